package awsconf

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// DefaultRegion is the region when neither the configuration nor the
// environment names one.
const DefaultRegion = "us-east-1"

var regionName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)

// Config is the AWS part of a sink's configuration, inlined in it
// (`yaml:",inline"`): its fields are the sink's own.
type Config struct {
	// Region is the AWS region of the sink's resource. Default: the
	// environment's (AWS_REGION, AWS_DEFAULT_REGION, the profile's), else
	// us-east-1.
	Region string `yaml:"region"`
	// Endpoint is the URL of a compatible service (a local stack, MinIO, a
	// VPC endpoint): http://127.0.0.1:4567. Default: empty, AWS's endpoint
	// for the region.
	Endpoint string `yaml:"endpoint"`
	// Profile is the shared configuration profile (~/.aws/config and
	// ~/.aws/credentials) that credentials and region come from; a profile
	// can assume a role (role_arn with source_profile or
	// credential_source). Default: AWS_PROFILE, else "default".
	Profile string `yaml:"profile"`
	// AccessKeyID and SecretAccessKey are static credentials, for
	// compatible services and hosts without any other: prefer the SDK's
	// default chain (environment, profile, web identity, container or
	// instance role). Default: empty, the default chain.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
}

// Problems returns every problem of the fields, each starting with its
// YAML name.
func (c *Config) Problems() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Region != "" && !regionName.MatchString(c.Region) {
		bad("region: %q is not a region name (eu-west-1)", c.Region)
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("endpoint: %q is not an http:// or https:// URL", c.Endpoint)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		bad("access_key_id, secret_access_key: set both or neither")
	}
	if c.AccessKeyID != "" && c.Profile != "" {
		bad("profile: not with access_key_id: credentials come from one or the other")
	}
	return errs
}

// Load returns the SDK's configuration: the region, profile and static
// credentials of c, the rest as the SDK's default chain reads it from the
// environment and the shared configuration files. region is the region
// when c names none (a resource's ARN may), before the environment's; ""
// leaves it to the environment, then DefaultRegion. The configuration's
// HTTP client has a transport of its own, with the environment's settings
// (AWS_CA_BUNDLE), returned so that the sink can close its connections.
// It sends nothing. c.Endpoint is the caller's to set on its service's
// options.
func (c *Config) Load(ctx context.Context, region string) (aws.Config, *http.Transport, error) {
	if c.Region != "" {
		region = c.Region
	}
	opts := []func(*config.LoadOptions) error{config.WithDefaultRegion(DefaultRegion)}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, nil, fmt.Errorf("aws configuration: %w", err)
	}
	transport := awshttp.NewBuildableClient().GetTransport()
	if b, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		transport = b.GetTransport()
	}
	cfg.HTTPClient = &http.Client{Transport: transport}
	return cfg, transport, nil
}
