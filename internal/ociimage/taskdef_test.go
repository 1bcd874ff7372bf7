package ociimage_test

import (
	"encoding/json"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/ociimage"
)

// TestShippedTaskDefinitionFitsTheImage: the task definition at the
// repository's root runs this image as built: its health check calls the
// binary where the image has it, as the image's user, against the port the
// agent listens on and the task maps.
func TestShippedTaskDefinitionFitsTheImage(t *testing.T) {
	raw, err := os.ReadFile(moduleRoot + "/task-definition.json")
	if err != nil {
		t.Fatal(err)
	}
	var td struct {
		ContainerDefinitions []struct {
			Name        string   `json:"name"`
			User        string   `json:"user"`
			Command     []string `json:"command"`
			EntryPoint  []string `json:"entryPoint"`
			HealthCheck *struct {
				Command     []string `json:"command"`
				Interval    int      `json:"interval"`
				Timeout     int      `json:"timeout"`
				Retries     int      `json:"retries"`
				StartPeriod int      `json:"startPeriod"`
			} `json:"healthCheck"`
			PortMappings []struct {
				ContainerPort int `json:"containerPort"`
			} `json:"portMappings"`
			Environment []struct{ Name, Value string } `json:"environment"`
		} `json:"containerDefinitions"`
	}
	if err := json.Unmarshal(raw, &td); err != nil {
		t.Fatal(err)
	}
	if len(td.ContainerDefinitions) != 1 {
		t.Fatalf("%d containers, want the agent alone", len(td.ContainerDefinitions))
	}
	c := td.ContainerDefinitions[0]
	if c.User != ociimage.User || c.EntryPoint != nil || !cmp.Equal(c.Command, []string{"agent"}) {
		t.Errorf("user %q entryPoint %q command %q; want the image's user and entrypoint, command agent", c.User, c.EntryPoint, c.Command)
	}
	hc := c.HealthCheck
	if hc == nil {
		t.Fatal("no healthCheck")
	}
	if want := []string{"CMD", ociimage.BinaryPath, "healthcheck"}; !cmp.Equal(hc.Command, want) {
		t.Errorf("healthCheck command %q, want %q", hc.Command, want)
	}
	// ECS's limits (RegisterTaskDefinition HealthCheck); the command's own
	// --timeout (3s) must end before ECS gives up on it.
	if hc.Interval < 5 || hc.Interval > 300 || hc.Timeout < 4 || hc.Timeout > 60 || hc.Retries < 1 || hc.Retries > 10 || hc.StartPeriod < 0 || hc.StartPeriod > 300 {
		t.Errorf("healthCheck interval %d timeout %d retries %d startPeriod %d out of range", hc.Interval, hc.Timeout, hc.Retries, hc.StartPeriod)
	}
	listen := ":9090" // the agent's default
	for _, e := range c.Environment {
		if e.Name == "PULLHEAL_LISTEN" {
			listen = e.Value
		}
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("PULLHEAL_LISTEN %q: %v", listen, err)
	}
	if len(c.PortMappings) != 1 || strconv.Itoa(c.PortMappings[0].ContainerPort) != port || port+"/tcp" != ociimage.MetricsPort {
		t.Errorf("the agent listens on %s, the task maps %+v, the image exposes %s", listen, c.PortMappings, ociimage.MetricsPort)
	}
}
