package ecssim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// eni is the elastic network interface ECS attaches to a task in awsvpc
// mode (every Fargate task). DescribeTasks shows it as the task's
// ElasticNetworkInterface attachment and in each container's
// networkInterfaces.
type eni struct {
	AttachmentID string `json:"attachmentId"`
	ID           string `json:"id"`
	Subnet       string `json:"subnet"`
	MAC          string `json:"mac"`
	IP           string `json:"ip"`
	DNSName      string `json:"dnsName"`
}

// newENI draws an interface in the first subnet of an awsvpcConfiguration.
func newENI(region string, network json.RawMessage) *eni {
	var nc struct {
		AwsvpcConfiguration struct {
			Subnets []string `json:"subnets"`
		} `json:"awsvpcConfiguration"`
	}
	_ = json.Unmarshal(network, &nc)
	var b [12]byte
	_, _ = rand.Read(b[:])
	n := &eni{
		AttachmentID: newUUID(),
		ID:           "eni-" + hex.EncodeToString(b[:9])[:17],
		MAC:          fmt.Sprintf("0a:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4]),
		IP:           fmt.Sprintf("10.0.%d.%d", b[5], 1+b[6]%254),
	}
	if s := nc.AwsvpcConfiguration.Subnets; len(s) > 0 {
		n.Subnet = s[0]
	}
	domain := region + ".compute.internal"
	if region == "us-east-1" {
		domain = "ec2.internal"
	}
	n.DNSName = fmt.Sprintf("ip-10-0-%d-%d.%s", b[5], 1+b[6]%254, domain)
	return n
}

// attachmentStatus follows the task: the interface is precreated while
// the task provisions, attached while it runs, deleted once it stopped.
func attachmentStatus(lastStatus string) string {
	switch lastStatus {
	case statusProvisioning:
		return "PRECREATED"
	case statusStopped:
		return "DELETED"
	}
	return "ATTACHED"
}

func (n *eni) render(lastStatus string) map[string]any {
	return map[string]any{
		"id":     n.AttachmentID,
		"type":   "ElasticNetworkInterface",
		"status": attachmentStatus(lastStatus),
		"details": []nameValue{
			{Name: "subnetId", Value: n.Subnet},
			{Name: "networkInterfaceId", Value: n.ID},
			{Name: "macAddress", Value: n.MAC},
			{Name: "privateDnsName", Value: n.DNSName},
			{Name: "privateIPv4Address", Value: n.IP},
		},
	}
}

// containerInterfaces is a container's networkInterfaces: the task's
// interface once it is attached.
func (n *eni) containerInterfaces(lastStatus string) []any {
	if n == nil || attachmentStatus(lastStatus) != "ATTACHED" {
		return []any{}
	}
	return []any{map[string]string{"attachmentId": n.AttachmentID, "privateIpv4Address": n.IP}}
}
