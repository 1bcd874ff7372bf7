package fake

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// ECR is agent.ECRAPI: an authorization token for Host and the account's
// pull-through cache rules.
type ECR struct {
	Calls
	// Host is the registry's host (ACCOUNT.dkr.ecr.REGION.amazonaws.com).
	Host string
	// Rules are the pull-through cache rules, upstream URL -> prefix.
	Rules map[string]string
}

func (f *ECR) GetAuthorizationToken(_ context.Context, _ *ecr.GetAuthorizationTokenInput, _ ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error) {
	if err := f.record("GetAuthorizationToken"); err != nil {
		return nil, err
	}
	return &ecr.GetAuthorizationTokenOutput{AuthorizationData: []ecrtypes.AuthorizationData{{
		AuthorizationToken: aws.String(base64.StdEncoding.EncodeToString([]byte("AWS:fake-password"))),
		ExpiresAt:          aws.Time(time.Now().Add(12 * time.Hour)),
		ProxyEndpoint:      aws.String("https://" + f.Host),
	}}}, nil
}

func (f *ECR) DescribePullThroughCacheRules(_ context.Context, _ *ecr.DescribePullThroughCacheRulesInput, _ ...func(*ecr.Options)) (*ecr.DescribePullThroughCacheRulesOutput, error) {
	if err := f.record("DescribePullThroughCacheRules"); err != nil {
		return nil, err
	}
	out := &ecr.DescribePullThroughCacheRulesOutput{}
	for url, prefix := range f.Rules {
		out.PullThroughCacheRules = append(out.PullThroughCacheRules, ecrtypes.PullThroughCacheRule{
			UpstreamRegistryUrl: aws.String(url), EcrRepositoryPrefix: aws.String(prefix)})
	}
	return out, nil
}
