// Package ecsarn reads the names inside ECS ARNs: a cluster's name, a task
// definition's family and revision, the account and region. Events,
// DescribeTaskDefinition output and task-definition files all carry ARNs
// where pullheal needs the names.
package ecsarn

import (
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// Name is the last path component of an ARN's resource
// (arn:aws:ecs:us-east-1:123456789012:cluster/prod -> prod). A value that
// is not an ARN is returned as it is: ECS accepts a bare name wherever it
// accepts an ARN.
func Name(s string) string {
	if !arn.IsARN(s) {
		return s
	}
	return s[strings.LastIndexByte(s, '/')+1:]
}

// TaskDefinition splits arn:...:task-definition/FAMILY:REVISION (or
// FAMILY:REVISION) into its family and revision; ok is false when there is
// no revision.
func TaskDefinition(s string) (family string, revision int, ok bool) {
	name := Name(s)
	i := strings.LastIndexByte(name, ':')
	if i <= 0 {
		return name, 0, false
	}
	rev, err := strconv.Atoi(name[i+1:])
	if err != nil || rev < 1 {
		return name, 0, false
	}
	return name[:i], rev, true
}

// AccountRegion returns the account and region of an ARN; ok is false for
// anything that is not an ARN with both.
func AccountRegion(s string) (account, region string, ok bool) {
	a, err := arn.Parse(s)
	if err != nil || a.AccountID == "" || a.Region == "" {
		return "", "", false
	}
	return a.AccountID, a.Region, true
}
