package conformance_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestAWSCLI runs the real AWS CLI against an in-process test bed with
// exactly the environment `pullheal local` prints. The CLI v1 reads its
// region only from AWS_DEFAULT_REGION, and its sqs commands ignore
// AWS_ENDPOINT_URL in us-east-1 (they go to queue.amazonaws.com), so they
// get --endpoint-url, as docs/conformance.md tells users.
func TestAWSCLI(t *testing.T) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		// Every machine of the project has it (CI's too): no skip.
		t.Fatalf("the AWS CLI is not installed: %v", err)
	}
	ctx := context.Background()
	bed := startTestBed(t)
	cfg := bed.AWSConfig()
	if _, err := ecs.NewFromConfig(cfg).CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("pullheal-events")}); err != nil {
		t.Fatal(err)
	}
	env := cliEnv(t, bed.Env())
	endpoint := bed.APIURL()

	var id struct{ Account, Arn, UserId string }
	runCLI(t, bin, env, &id, "sts", "get-caller-identity")
	if id.Account != account || !strings.HasPrefix(id.Arn, "arn:aws:iam::"+account+":") {
		t.Errorf("aws sts get-caller-identity = %+v, want account %s", id, account)
	}
	var clusters struct{ ClusterArns []string }
	runCLI(t, bin, env, &clusters, "ecs", "list-clusters")
	if want := "arn:aws:ecs:us-east-1:" + account + ":cluster/prod"; len(clusters.ClusterArns) != 1 || clusters.ClusterArns[0] != want {
		t.Errorf("aws ecs list-clusters = %v, want [%s]", clusters.ClusterArns, want)
	}
	var queues struct{ QueueUrls []string }
	runCLI(t, bin, env, &queues, "--endpoint-url", endpoint, "sqs", "list-queues")
	if want := endpoint + "/" + account + "/pullheal-events"; len(queues.QueueUrls) != 1 || queues.QueueUrls[0] != want {
		t.Errorf("aws sqs list-queues = %v, want [%s]", queues.QueueUrls, want)
	}
}

// cliEnv is the test's environment without any AWS setting or config
// file, plus the test bed's lines.
func cliEnv(t *testing.T, bedEnv []string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	dir := t.TempDir()
	return append(append(env,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	), bedEnv...)
}

func runCLI(t *testing.T, bin string, env []string, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--output", "json")...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("aws %s: output is not JSON (%v): %s", strings.Join(args, " "), err, b)
	}
}
