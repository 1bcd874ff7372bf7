// Package localaws is pullheal's local test bed: wire-compatible stand-ins
// for the AWS APIs pullheal uses (ECS with a simulated scheduler, ECR and
// its registry with pull-through, SQS, EventBridge, DynamoDB, Secrets
// Manager, STS, IAM, EC2 instances, S3, SSM Parameter Store) and a
// Docker-Hub-like registry, served over loopback HTTP
// so the real aws-sdk-go-v2 clients and registry clients drive them
// unchanged. One Server runs them all, for tests, `pullheal demo` and
// `pullheal local`.
package localaws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/pullheal/pullheal/internal/hostmap"
	"github.com/pullheal/pullheal/internal/regfile"
	"github.com/pullheal/pullheal/internal/testbed/hubsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/dynamosim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/ec2sim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/ecrsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/ecssim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/eventsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/iamsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/s3sim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/secretsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/sqssim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/ssmsim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/stssim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// Docker Hub's host names, as task definitions, pull-through rules and
// token challenges name them. The test bed maps them to its hub.
const (
	DockerHubRegistry = "registry-1.docker.io"
	DockerHubAuth     = "auth.docker.io"
	// HubUser and HubToken are the Docker Hub account the test bed's hub
	// knows: pull-through rules and the mirror authenticate with them.
	HubUser  = "pullheal"
	HubToken = "dckr_pat_localtestbed"
	// AccessKey and SecretKey are the static credentials clients sign with;
	// the stand-ins do not check signatures.
	AccessKey = "AKIALOCALTESTBED0000"
	SecretKey = "localtestbedsecretkey"
)

// Config configures a Server. The zero value serves on ephemeral loopback
// ports with Docker Hub's default limits.
type Config struct {
	Account, Region string
	// APIAddr, RegistryAddr and HubAddr are the listen addresses of the AWS
	// APIs, the ECR registry and the hub ("127.0.0.1:0" when empty).
	APIAddr, RegistryAddr, HubAddr string
	// StateDir keeps everything across restarts when set.
	StateDir string
	// EnforceIAM makes ECR allow the scheduler's pulls only what the task
	// execution role's policies (iamsim) and the registry and repository
	// policies grant, with ECR's denial text. An EC2 task without an
	// execution role, placed on a registered container instance, pulls
	// as the role of that instance's profile (ec2sim, iamsim). Off, every role may pull,
	// for scenarios that are not about permissions.
	EnforceIAM bool
	// Tick runs the ECS scheduler every Tick; 0 leaves it to Server.Tick.
	Tick time.Duration
	// RestartDelay is ECS's delay before relaunching a service task that
	// failed to start (ecssim's default when 0).
	RestartDelay time.Duration
	// Hub configures the Docker Hub stand-in; its Users gain HubUser.
	Hub hubsim.Config
	// Clock drives every simulation (wall clock when nil).
	Clock  wire.Clock
	Logger *slog.Logger
}

// Server is a running test bed.
type Server struct {
	cfg     Config
	log     *slog.Logger
	api     *http.Server
	reg     *http.Server
	hubSrv  *http.Server
	apiURL  string
	regURL  string
	hubURL  string
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	saveMu  sync.Mutex
	closeMu sync.Once

	ECS       *ecssim.ECS
	ECR       *ecrsim.ECR
	SQS       *sqssim.SQS
	Events    *eventsim.EventBridge
	DynamoDB  *dynamosim.DynamoDB
	Secrets   *secretsim.Secrets
	STS       *stssim.STS
	IAM       *iamsim.IAM
	EC2       *ec2sim.EC2
	S3        *s3sim.S3
	SSM       *ssmsim.SSM
	Hub       *hubsim.Hub
	endpoints hostmap.Map
}

// snapshotter is a stand-in whose state is saved as one file.
type snapshotter interface {
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

// Start builds the stand-ins, restores any saved state and starts serving.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	wire.FillDefaults(&cfg.Account, &cfg.Region, &cfg.Clock)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log}
	apiLn, err := listen(cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("listen for the AWS APIs: %w", err)
	}
	regLn, err := listen(cfg.RegistryAddr)
	if err != nil {
		apiLn.Close()
		return nil, fmt.Errorf("listen for the ECR registry: %w", err)
	}
	hubLn, err := listen(cfg.HubAddr)
	if err != nil {
		apiLn.Close()
		regLn.Close()
		return nil, fmt.Errorf("listen for the hub: %w", err)
	}
	s.apiURL, s.regURL, s.hubURL = "http://"+apiLn.Addr().String(), "http://"+regLn.Addr().String(), "http://"+hubLn.Addr().String()
	if err := s.build(); err != nil {
		apiLn.Close()
		regLn.Close()
		hubLn.Close()
		return nil, err
	}
	s.api = &http.Server{Handler: s.apiHandler(), ReadHeaderTimeout: 10 * time.Second}
	s.reg = &http.Server{Handler: s.ECR.Registry(), ReadHeaderTimeout: 10 * time.Second}
	s.hubSrv = &http.Server{Handler: s.Hub, ReadHeaderTimeout: 10 * time.Second}
	for srv, ln := range map[*http.Server]net.Listener{s.api: apiLn, s.reg: regLn, s.hubSrv: hubLn} {
		s.wg.Add(1)
		go func(srv *http.Server, ln net.Listener) {
			defer s.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("test bed server stopped", "address", ln.Addr().String(), "error", err)
			}
		}(srv, ln)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	if cfg.Tick > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = s.ECS.Run(bg, cfg.Tick)
		}()
	}
	if cfg.StateDir != "" {
		// Processes of the test bed are killed in tests; save often so a
		// SIGKILL loses at most a second.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-bg.Done():
					return
				case <-t.C:
					if err := s.Save(); err != nil {
						log.Warn("save test bed state", "error", err)
					}
				}
			}
		}()
	}
	return s, nil
}

func listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	return net.Listen("tcp", addr)
}

func (s *Server) build() error {
	cfg := s.cfg
	var err error
	hubCfg := cfg.Hub
	users := map[string]string{HubUser: HubToken}
	for u, p := range hubCfg.Users {
		users[u] = p
	}
	hubCfg.Users = users
	if hubCfg.Realm == "" {
		hubCfg.Realm = "https://" + DockerHubAuth + "/token"
	}
	if hubCfg.Clock == nil {
		hubCfg.Clock = cfg.Clock
	}
	if s.Hub, err = hubsim.New(hubCfg); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if s.Secrets, err = secretsim.New(secretsim.Config{Account: cfg.Account, Region: cfg.Region, Clock: cfg.Clock, StateDir: cfg.StateDir}); err != nil {
		return fmt.Errorf("secrets manager: %w", err)
	}
	if s.STS, err = stssim.New(stssim.Config{Account: cfg.Account}); err != nil {
		return fmt.Errorf("sts: %w", err)
	}
	s.IAM = iamsim.New(cfg.Account, cfg.Clock)
	s.EC2 = ec2sim.New(ec2sim.Config{Account: cfg.Account, Region: cfg.Region, Clock: cfg.Clock})
	upstreams := map[string]string{DockerHubRegistry: s.hubURL, DockerHubAuth: s.hubURL}
	var authz ecrsim.Authorizer
	if cfg.EnforceIAM {
		authz = s.IAM
	}
	if s.ECR, err = ecrsim.New(ecrsim.Config{Account: cfg.Account, Region: cfg.Region, Clock: cfg.Clock,
		Upstreams: upstreams, Secrets: s.Secrets, StateDir: cfg.StateDir, Logger: s.log, IAM: authz}); err != nil {
		return fmt.Errorf("ecr: %w", err)
	}
	s.endpoints = hostmap.Map{}
	for host, u := range map[string]string{"docker.io": s.hubURL, DockerHubAuth: s.hubURL, s.ECR.RegistryHost(): s.regURL} {
		if err := s.endpoints.Add(host, u); err != nil {
			return err
		}
	}
	if s.SQS, err = sqssim.New(sqssim.Config{Account: cfg.Account, Region: cfg.Region, Clock: cfg.Clock, BaseURL: s.apiURL}); err != nil {
		return fmt.Errorf("sqs: %w", err)
	}
	if s.Events, err = eventsim.New(eventsim.Config{Account: cfg.Account, Region: cfg.Region, Clock: cfg.Clock, Queues: s.SQS, Logger: s.log}); err != nil {
		return fmt.Errorf("eventbridge: %w", err)
	}
	s.DynamoDB = dynamosim.New(dynamosim.Config{Account: cfg.Account, Region: cfg.Region, Clock: cfg.Clock})
	if s.S3, err = s3sim.New(s3sim.Config{Account: cfg.Account, Region: cfg.Region, Clock: cfg.Clock}); err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	if s.SSM, err = ssmsim.New(ssmsim.Config{Account: cfg.Account, Region: cfg.Region, Clock: cfg.Clock}); err != nil {
		return fmt.Errorf("ssm: %w", err)
	}
	puller, err := ecssim.NewRegistryPuller(ecssim.RegistryPullerConfig{
		Hosts: s.endpointStrings(),
		ECRCredentials: func(_ context.Context, _, role string) (string, string, error) {
			t := s.ECR.TokenFor(role)
			return t.Username, t.Password, nil
		},
		InstanceRole: func(_ context.Context, id string) (string, error) {
			i, ok := s.EC2.Lookup(id)
			if !ok || i.ProfileArn == "" {
				return "", nil
			}
			role, err := s.IAM.ProfileRole(i.ProfileArn)
			if errors.Is(err, iamsim.ErrNoSuchEntity) {
				// EC2 refuses a launch with an unknown profile; one
				// deleted since leaves the instance without credentials.
				return "", nil
			}
			return role, err
		},
		SecretCredentials: func(_ context.Context, arn string) (string, string, error) {
			return secretCredentials(s.Secrets, arn)
		},
	})
	if err != nil {
		return fmt.Errorf("ecs puller: %w", err)
	}
	if s.ECS, err = ecssim.New(ecssim.Config{Account: cfg.Account, Region: cfg.Region, Clock: cfg.Clock,
		Events: s.Events, Puller: puller, RestartDelay: cfg.RestartDelay, Logger: s.log}); err != nil {
		return fmt.Errorf("ecs: %w", err)
	}
	return s.restore()
}

func (s *Server) endpointStrings() map[string]string {
	out := map[string]string{}
	for h, u := range s.endpoints {
		out[h] = u.String()
	}
	return out
}

// snapshots are the stand-ins saved as one file each; ECR and Secrets
// Manager keep their own files in the state directory.
func (s *Server) snapshots() map[string]snapshotter {
	return map[string]snapshotter{"ecs.json": s.ECS, "sqs.json": s.SQS, "events.json": s.Events, "dynamodb.json": s.DynamoDB,
		"iam.json": s.IAM, "ec2.json": s.EC2, "s3.json": s.S3, "ssm.json": s.SSM}
}

func (s *Server) restore() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(s.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	for file, st := range s.snapshots() {
		path := filepath.Join(s.cfg.StateDir, file)
		// regfile: a FIFO put there would block the open forever.
		f, err := regfile.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("restore %s: %w", path, err)
		}
		err = st.Restore(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("restore %s: %w", path, err)
		}
	}
	return nil
}

// Save writes the state of the snapshotted stand-ins, each atomically.
func (s *Server) Save() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	for file, st := range s.snapshots() {
		path := filepath.Join(s.cfg.StateDir, file)
		tmp, err := os.CreateTemp(s.cfg.StateDir, file+".*")
		if err != nil {
			return fmt.Errorf("save %s: %w", path, err)
		}
		err = st.Snapshot(tmp)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("save %s: %w", path, err)
		}
	}
	return nil
}

// apiHandler serves every AWS API on one endpoint, as AWS_ENDPOINT_URL
// points every client at one URL: JSON protocols by X-Amz-Target, STS by
// its query-protocol form, IAM, EC2 (query protocols) and S3 (REST,
// path-style) by their SigV4 signing service.
func (s *Server) apiHandler() http.Handler {
	mux := wire.NewMux(s.ECS.Service(), s.ECR.Service(), s.SQS.Service(), s.Events.Service(),
		s.DynamoDB.Service(), s.Secrets.Service(), s.SSM.Service())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case mux.Handles(r):
			mux.ServeHTTP(w, r)
		case s.STS.Handles(r):
			s.STS.ServeHTTP(w, r)
		case s.IAM.Handles(r):
			s.IAM.ServeHTTP(w, r)
		case s.EC2.Handles(r):
			s.EC2.ServeHTTP(w, r)
		case s.S3.Handles(r):
			s.S3.ServeHTTP(w, r)
		case r.URL.Path == "/_localaws/tick" && r.Method == http.MethodPost:
			if err := s.ECS.Tick(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_, _ = io.WriteString(w, "ok\n")
		case r.URL.Path == "/_localaws/health":
			_, _ = io.WriteString(w, "ok\n")
		default:
			wire.WriteError(w, "1.1", wire.Errorf(http.StatusBadRequest, "UnknownOperationException",
				"this test bed serves ECS, ECR, SQS, EventBridge, DynamoDB, Secrets Manager, STS, IAM, EC2, S3 and SSM; got %s %s (X-Amz-Target %q)",
				r.Method, r.URL.Path, r.Header.Get("X-Amz-Target")))
		}
	})
}

// Tick runs one scheduling round of the simulated ECS.
func (s *Server) Tick(ctx context.Context) error { return s.ECS.Tick(ctx) }

// APIURL is the endpoint of every AWS API (AWS_ENDPOINT_URL).
func (s *Server) APIURL() string { return s.apiURL }

// HubURL is the hub's base URL; its controls are under /_hubsim/.
func (s *Server) HubURL() string { return s.hubURL }

// RegistryHost is the ECR registry's name, as images and tokens name it.
func (s *Server) RegistryHost() string { return s.ECR.RegistryHost() }

// Endpoints maps Docker Hub's and the ECR registry's host names to the
// test bed's listeners, for registry clients.
func (s *Server) Endpoints() hostmap.Map { return s.endpoints }

// AWSConfig is an SDK configuration for in-process clients.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       s.cfg.Region,
		BaseEndpoint: aws.String(s.apiURL),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	}
}

// Env are the environment lines that point the AWS SDK and CLI, and
// pullheal's registry clients, at the test bed.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.apiURL,
		"AWS_REGION=" + s.cfg.Region,
		// The AWS CLI v1 and boto3 read the region only from this one.
		"AWS_DEFAULT_REGION=" + s.cfg.Region,
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"PULLHEAL_REGISTRY_ENDPOINTS=" + s.endpoints.String(),
		"PULLHEAL_HUB_URL=" + s.hubURL,
	}
}

// Close stops serving and saves the state.
func (s *Server) Close() error {
	var err error
	s.closeMu.Do(func() {
		s.cancel()
		// Requests get a second to finish. A connection a client opened
		// but never used counts as busy for five seconds in net/http, so
		// whatever is left then is closed rather than waited for.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for _, srv := range []*http.Server{s.api, s.reg, s.hubSrv} {
			if e := srv.Shutdown(ctx); e != nil {
				_ = srv.Close()
			}
		}
		s.wg.Wait()
		if e := s.Save(); e != nil && err == nil {
			err = e
		}
	})
	return err
}
