package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/pullheal/pullheal/internal/regfile"
)

// loadAWSConfig loads the SDK's standard configuration (AWS_REGION,
// AWS_ENDPOINT_URL, the shared config and credentials files, the default
// credential chain) for every command that calls AWS. What it reads is the
// user's input: a bad value is refused here, before any request, with one
// line that names it, and exit code 2.
func loadAWSConfig(ctx context.Context, opts ...func(*config.LoadOptions) error) (cfg aws.Config, err error) {
	if err := checkAWSEnvironment(); err != nil {
		return cfg, err
	}
	defer func() {
		// The SDK's shared-config parser panics on some malformed files
		// (a value that is a lone quote); it runs here, on this goroutine,
		// on nothing but the files' text, so the panic is the parse error.
		if r := recover(); r != nil {
			err = inputErrorf("AWS shared configuration %s: the AWS SDK cannot parse it; look for a value that is a lone quote, or binary data", strings.Join(sharedConfigFiles(), ", "))
		}
	}()
	cfg, err = config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region != "" {
		if msg := regionProblem(cfg.Region); msg != "" {
			source := "the shared config profile's region"
			if os.Getenv("AWS_REGION") == cfg.Region {
				source = "AWS_REGION"
			}
			return cfg, inputErrorf("%s %q: %s", source, cfg.Region, msg)
		}
	}
	return cfg, nil
}

// awsConfig is loadAWSConfig for the commands that need a region.
func awsConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := loadAWSConfig(ctx)
	if err != nil {
		return cfg, err
	}
	if cfg.Region == "" {
		return cfg, inputErrorf("no AWS region: set AWS_REGION")
	}
	return cfg, nil
}

// checkAWSEnvironment checks what the SDK would otherwise fail on late,
// or hang on: endpoint URLs without a scheme (every request fails with
// "unsupported protocol scheme"), and shared files that are a FIFO (the SDK
// blocks reading it), a device or a directory.
func checkAWSEnvironment() error {
	var names []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "AWS_ENDPOINT_URL" || strings.HasPrefix(k, "AWS_ENDPOINT_URL_") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		v := os.Getenv(k)
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return inputErrorf("%s %q: want an http or https URL such as https://sqs.us-east-1.amazonaws.com or http://127.0.0.1:4566", k, v)
		}
	}
	for _, f := range sharedFiles() {
		file, err := regfile.Open(f.path)
		switch {
		case err == nil:
			file.Close()
		case !errors.Is(err, fs.ErrNotExist):
			return inputErrorf("%s %s: %v", f.name, f.path, unwrapPathError(err))
		}
	}
	return nil
}

// sharedConfigFiles names the shared files the SDK read.
func sharedConfigFiles() []string {
	var out []string
	for _, f := range sharedFiles() {
		if _, err := os.Stat(f.path); err == nil {
			out = append(out, f.path)
		}
	}
	return out
}

// sharedFile is a shared file the SDK reads: its path, and the name a
// message gives it.
type sharedFile struct{ path, name string }

func sharedFiles() []sharedFile {
	var out []sharedFile
	for _, f := range []struct{ env, def string }{{"AWS_CONFIG_FILE", "config"}, {"AWS_SHARED_CREDENTIALS_FILE", "credentials"}} {
		if p := os.Getenv(f.env); p != "" {
			out = append(out, sharedFile{p, f.env})
			continue
		}
		if home, err := os.UserHomeDir(); err == nil {
			out = append(out, sharedFile{filepath.Join(home, ".aws", f.def), "AWS shared " + f.def + " file"})
		}
	}
	return out
}

// regionProblem applies the SDK's endpoint rule for a region (a host name:
// labels of letters, digits and '-'), which it checks only when a request
// is made.
func regionProblem(region string) string {
	for label := range strings.SplitSeq(region, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return "not a region name (us-east-1, eu-west-1, ...)"
		}
	}
	return ""
}
