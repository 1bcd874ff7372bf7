package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/pullheal/pullheal/internal/policysource"
)

// policyUsage is the --policy flag's usage, the same for every command.
const policyUsage = "`POLICY`: a file, s3://BUCKET/KEY or ssm:NAME (a parameter name or ARN; SecureString is decrypted)"

// readPolicy reads the --policy location once. S3 and SSM are read with
// awsCfg, or the SDK's default configuration when it is nil. A location
// that is wrong (unparseable, missing, denied, an invalid policy) is an
// input error (exit 2); a service that cannot be reached is a failure.
func readPolicy(ctx context.Context, location string, awsCfg *aws.Config) (*policysource.Snapshot, *policysource.Reader, error) {
	loc, err := policysource.ParseLocation(location)
	if err != nil {
		return nil, nil, asInputError(err)
	}
	var cfg aws.Config
	if loc.Kind != policysource.File {
		if awsCfg == nil {
			if cfg, err = loadAWSConfig(ctx); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", loc, err)
			}
			awsCfg = &cfg
		}
		if awsCfg.Region == "" && loc.Region == "" {
			return nil, nil, inputErrorf("%s: no AWS region to read it in: set AWS_REGION", loc)
		}
		cfg = *awsCfg
	}
	r, err := policysource.ReaderFromConfig(cfg, loc, policysource.DefaultTimeout)
	if err != nil {
		return nil, nil, err
	}
	snap, err := r.Read(ctx, nil)
	if err != nil {
		if policysource.IsBadInput(err) {
			return nil, nil, asInputError(err)
		}
		return nil, nil, err
	}
	return snap, r, nil
}
