// Package ssmsim is the local test bed's AWS Systems Manager Parameter
// Store: its JSON 1.1 protocol (target prefix "AmazonSSM") for GetParameter
// and PutParameter, enough for the real aws-sdk-go-v2 client and the AWS
// CLI to store a policy in a parameter and for pullheal to read it.
//
// Decisions where Parameter Store leaves room:
//   - PutParameter creates version 1 and, with Overwrite, each later write
//     the next version; without Overwrite an existing name answers
//     ParameterAlreadyExists. The last 100 versions are kept, as AWS does.
//   - A parameter is found by name, by ARN
//     (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME, without the leading '/'
//     of a hierarchical name) or with a version selector (NAME:3). Label
//     selectors are not supported (ParameterVersionNotFound).
//   - A SecureString is kept in clear text (this is a test bed, never a
//     vault); GetParameter without WithDecryption returns an opaque
//     base64 string in its place, as the encrypted value would be.
//   - Standard parameters hold at most 4 KB, Advanced 8 KB;
//     Intelligent-Tiering picks Advanced when the value needs it.
package ssmsim

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// Limits from the Parameter Store documentation.
const (
	maxStandardValue = 4096
	maxAdvancedValue = 8192
	maxVersions      = 100
	maxNameLength    = 1011
	maxHierarchy     = 15
	defaultKey       = "alias/aws/ssm"
	snapshotVersion  = 1
)

// Config configures the stand-in.
type Config struct {
	Account, Region string
	Clock           wire.Clock
}

// SSM is the Parameter Store stand-in. It is safe for concurrent use.
type SSM struct {
	cfg Config

	mu     sync.Mutex
	params map[string]*parameter // by name
}

type parameter struct {
	Name     string     `json:"name"`
	Type     string     `json:"type"`
	KeyID    string     `json:"keyId,omitempty"`
	Tier     string     `json:"tier"`
	DataType string     `json:"dataType"`
	Versions []*version `json:"versions"` // oldest first
}

type version struct {
	Version  int64     `json:"version"`
	Value    string    `json:"value"`
	Modified time.Time `json:"modified"`
}

// New returns an empty Parameter Store.
func New(cfg Config) (*SSM, error) {
	if err := wire.CheckAccountRegion(cfg.Account, cfg.Region); err != nil {
		return nil, fmt.Errorf("ssmsim config: %w", err)
	}
	wire.FillDefaults(&cfg.Account, &cfg.Region, &cfg.Clock)
	return &SSM{cfg: cfg, params: map[string]*parameter{}}, nil
}

// Service is the stand-in's JSON-protocol service for wire.Mux.
func (s *SSM) Service() wire.Service {
	return wire.Service{TargetPrefix: "AmazonSSM", JSONVersion: "1.1", Ops: map[string]wire.Op{
		"GetParameter": s.getParameter,
		"PutParameter": s.putParameter,
	}}
}

func validation(format string, args ...any) error {
	return wire.Errorf(http.StatusBadRequest, "ValidationException", format, args...)
}

func notFound() error {
	// AWS sends ParameterNotFound with an empty message.
	return wire.Errorf(http.StatusBadRequest, "ParameterNotFound", "")
}

// checkName applies PutParameter's naming rules.
func checkName(n string) error {
	switch {
	case n == "":
		return validation("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(n) > maxNameLength:
		return validation("Parameter name must be %d characters or fewer.", maxNameLength)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.-/", r)) {
			return validation("Parameter name: can't contain characters other than a-zA-Z0-9_.-/")
		}
	}
	first := strings.ToLower(strings.TrimPrefix(n, "/"))
	if strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm") {
		return validation("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).")
	}
	if strings.Contains(n, "/") {
		if !strings.HasPrefix(n, "/") {
			return validation("Parameter name must be a fully qualified name.")
		}
		if strings.Count(n, "/") > maxHierarchy {
			return wire.Errorf(http.StatusBadRequest, "HierarchyLevelLimitExceededException",
				"A hierarchy can have a maximum of %d levels.", maxHierarchy)
		}
	}
	return nil
}

type putInput struct {
	Name           *string `json:"Name"`
	Value          *string `json:"Value"`
	Type           string  `json:"Type"`
	KeyID          string  `json:"KeyId"`
	Overwrite      bool    `json:"Overwrite"`
	Tier           string  `json:"Tier"`
	DataType       string  `json:"DataType"`
	Description    string  `json:"Description"`
	AllowedPattern string  `json:"AllowedPattern"`
	Tags           []struct {
		Key, Value string
	} `json:"Tags"`
}

func (s *SSM) putParameter(_ context.Context, body []byte) (any, error) {
	var in putInput
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.Name == nil || in.Value == nil {
		return nil, validation("1 validation error detected: Name and Value are required")
	}
	name := *in.Name
	if strings.HasPrefix(name, "arn:") {
		return nil, validation("Parameter name: can't be an ARN; PutParameter takes the parameter's name.")
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	value := *in.Value
	if value == "" {
		return nil, validation("1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if !utf8.ValidString(value) {
		return nil, validation("Parameter value must be valid UTF-8.")
	}
	switch in.Type {
	case "", "String", "StringList", "SecureString":
	default:
		return nil, wire.Errorf(http.StatusBadRequest, "UnsupportedParameterType", "Parameter type %q is not supported.", in.Type)
	}
	if in.KeyID != "" && in.Type != "SecureString" {
		return nil, validation("KeyId is required for SecureString type parameter only.")
	}
	switch in.Tier {
	case "", "Standard", "Advanced", "Intelligent-Tiering":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Standard, Advanced, Intelligent-Tiering]", in.Tier)
	}
	switch in.DataType {
	case "", "text":
	default:
		return nil, validation("The following data type is not supported: %s (supported data types: text)", in.DataType)
	}
	if in.AllowedPattern != "" {
		return nil, validation("AllowedPattern is not supported by this test bed")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.params[name]
	if p != nil && !in.Overwrite {
		return nil, wire.Errorf(http.StatusBadRequest, "ParameterAlreadyExists",
			"The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
	}
	next := &parameter{Name: name, Type: in.Type, KeyID: in.KeyID, Tier: in.Tier, DataType: "text"}
	if p != nil {
		next.Versions = p.Versions
		if next.Type == "" {
			next.Type = p.Type
		}
		if next.Tier == "" {
			next.Tier = p.Tier
		}
		if next.KeyID == "" && next.Type == p.Type {
			next.KeyID = p.KeyID
		}
	}
	if next.Type == "" {
		next.Type = "String"
	}
	if next.Type == "SecureString" && next.KeyID == "" {
		next.KeyID = defaultKey
	}
	if next.Type != "SecureString" {
		next.KeyID = ""
	}
	switch next.Tier {
	case "", "Standard":
		if p != nil && p.Tier == "Advanced" && in.Tier == "" {
			next.Tier = "Advanced" // an advanced parameter never goes back to standard by itself
			break
		}
		next.Tier = "Standard"
		if len(value) > maxStandardValue {
			return nil, validation("Standard tier parameters support a maximum parameter value of %d characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.", maxStandardValue)
		}
	case "Intelligent-Tiering":
		next.Tier = "Standard"
		if len(value) > maxStandardValue || (p != nil && p.Tier == "Advanced") {
			next.Tier = "Advanced"
		}
	}
	if len(value) > maxAdvancedValue {
		return nil, validation("Parameter value must be %d characters or fewer.", maxAdvancedValue)
	}
	var n int64 = 1
	if len(next.Versions) > 0 {
		n = next.Versions[len(next.Versions)-1].Version + 1
	}
	next.Versions = append(append([]*version(nil), next.Versions...), &version{Version: n, Value: value, Modified: s.cfg.Clock.Now().UTC()})
	if len(next.Versions) > maxVersions {
		next.Versions = next.Versions[len(next.Versions)-maxVersions:]
	}
	s.params[name] = next
	return map[string]any{"Version": n, "Tier": next.Tier}, nil
}

type getInput struct {
	Name           *string `json:"Name"`
	WithDecryption bool    `json:"WithDecryption"`
}

func (s *SSM) getParameter(_ context.Context, body []byte) (any, error) {
	var in getInput
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.Name == nil || *in.Name == "" {
		return nil, validation("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must not be null")
	}
	if len(*in.Name) > 2048 {
		return nil, validation("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to 2048")
	}
	name, selector, err := s.resolve(*in.Name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.params[name]
	if p == nil {
		return nil, notFound()
	}
	v := p.Versions[len(p.Versions)-1]
	if selector != "" {
		want, err := strconv.ParseInt(selector, 10, 64)
		if err != nil {
			return nil, wire.Errorf(http.StatusBadRequest, "ParameterVersionNotFound",
				"Systems Manager could not find version %s of %s. Labels are not supported by this test bed.", selector, name)
		}
		v = nil
		for _, c := range p.Versions {
			if c.Version == want {
				v = c
			}
		}
		if v == nil {
			return nil, wire.Errorf(http.StatusBadRequest, "ParameterVersionNotFound",
				"Systems Manager could not find version %d of %s. Verify the version and try again.", want, name)
		}
	}
	value := v.Value
	if p.Type == "SecureString" && !in.WithDecryption {
		value = sealed(s.cfg.Account, name, v)
	}
	out := map[string]any{
		"Name": p.Name, "Type": p.Type, "Value": value, "Version": v.Version,
		"LastModifiedDate": wire.Epoch(v.Modified), "ARN": s.arn(name), "DataType": p.DataType,
	}
	if selector != "" {
		out["Selector"] = ":" + selector
	}
	return map[string]any{"Parameter": out}, nil
}

// resolve turns a name, an ARN or NAME:SELECTOR into the name and selector.
func (s *SSM) resolve(id string) (string, string, error) {
	if rest, ok := strings.CutPrefix(id, "arn:"); ok {
		parts := strings.SplitN(rest, ":", 5)
		if len(parts) != 5 || parts[1] != "ssm" || !strings.HasPrefix(parts[4], "parameter/") {
			return "", "", validation("Invalid parameter ARN: %s", id)
		}
		if parts[2] != s.cfg.Region || parts[3] != s.cfg.Account {
			return "", "", notFound()
		}
		name := strings.TrimPrefix(parts[4], "parameter")
		if strings.Count(name, "/") == 1 {
			name = name[1:]
		}
		name, selector, _ := strings.Cut(name, ":")
		return name, selector, nil
	}
	name, selector, _ := strings.Cut(id, ":")
	return name, selector, nil
}

func (s *SSM) arn(name string) string {
	res := "parameter/" + name
	if strings.HasPrefix(name, "/") {
		res = "parameter" + name
	}
	return fmt.Sprintf("arn:aws:ssm:%s:%s:%s", s.cfg.Region, s.cfg.Account, res)
}

// sealed stands for the encrypted value GetParameter returns without
// WithDecryption: opaque, stable for a version, and not the plaintext.
func sealed(account, name string, v *version) string {
	sum := sha256.Sum256([]byte(account + "\x00" + name + "\x00" + strconv.FormatInt(v.Version, 10) + "\x00" + v.Value))
	return "AQICAH" + base64.StdEncoding.EncodeToString(append([]byte("localkms"), sum[:]...))
}

type snapshot struct {
	wire.SnapshotHeader
	Parameters map[string]*parameter `json:"parameters"`
}

// Snapshot writes every parameter, values in clear text.
func (s *SSM) Snapshot(w io.Writer) error {
	s.mu.Lock()
	b, err := wire.EncodeSnapshot("ssm", snapshot{
		SnapshotHeader: wire.SnapshotHeader{Version: snapshotVersion, Account: s.cfg.Account, Region: s.cfg.Region},
		Parameters:     s.params,
	})
	s.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Restore replaces every parameter with a snapshot's.
func (s *SSM) Restore(r io.Reader) error {
	var snap snapshot
	if err := wire.DecodeSnapshot(r, "ssm", &snap); err != nil {
		return err
	}
	if err := snap.Check("ssm", snapshotVersion, s.cfg.Account, s.cfg.Region); err != nil {
		return err
	}
	for name, p := range snap.Parameters {
		if p == nil || len(p.Versions) == 0 {
			return fmt.Errorf("ssm snapshot: parameter %q has no versions", name)
		}
	}
	if snap.Parameters == nil {
		snap.Parameters = map[string]*parameter{}
	}
	s.mu.Lock()
	s.params = snap.Parameters
	s.mu.Unlock()
	return nil
}
