// Package secretsim is the local test bed's AWS Secrets Manager: enough of
// its JSON 1.1 protocol (target prefix "secretsmanager") for the real
// aws-sdk-go-v2 client to create, read, update, describe, list and delete secrets,
// and a Go method, SecretString, for in-process readers such as the ECR
// pull-through cache, which reads its upstream credentials from
// "ecr-pullthroughcache/..." secrets.
//
// Decisions where Secrets Manager leaves room:
//   - A secret's ARN ends in "-" and six random characters, as in AWS;
//     secrets are found by name, by full ARN, or by the ARN without that
//     suffix (a partial ARN).
//   - Versions carry the staging labels AWSCURRENT and AWSPREVIOUS only as
//     PutSecretValue moves them; other labels given to PutSecretValue are
//     attached to the new version.
//   - A deleted secret stays (GetSecretValue answers InvalidRequestException)
//     until its recovery window has passed on the clock; with
//     ForceDeleteWithoutRecovery it is gone at once.
//   - With Config.StateDir set, secrets are kept in
//     StateDir/secretsmanager.json (mode 0600) and survive restarts. The
//     values are stored in clear text: this is a test bed, never a vault.
package secretsim

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pullheal/pullheal/internal/regfile"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// ErrSecretNotFound is returned by SecretString when no live secret has the
// given name or ARN.
var ErrSecretNotFound = errors.New("secret not found")

// ErrNoSecretString is returned by SecretString when the secret's current
// version holds no string (a binary secret, or a secret with no value yet).
var ErrNoSecretString = errors.New("secret has no string value")

const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
	stateFile     = "secretsmanager.json"
)

// Config configures the Secrets Manager stand-in.
type Config struct {
	Account string     // default 123456789012
	Region  string     // default us-east-1
	Clock   wire.Clock // default wire.SystemClock
	// StateDir, when set, is where secrets are kept across restarts
	// (file secretsmanager.json; the directory may be shared with the other
	// stand-ins).
	StateDir string
}

var nameRE = wire.NewPattern(`^[A-Za-z0-9/_+=.@-]{1,512}$`)

// Validate reports the first invalid field of the configuration; empty
// fields take their defaults.
func (c Config) Validate() error {
	if err := wire.CheckAccountRegion(c.Account, c.Region); err != nil {
		return fmt.Errorf("secretsim config: %w", err)
	}
	return nil
}

// Secrets is the Secrets Manager stand-in. It is safe for concurrent use.
type Secrets struct {
	cfg Config

	mu      sync.Mutex
	secrets map[string]*secret // by name
}

// tag is a secret's tag.
type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type secret struct {
	ARN         string              `json:"arn"`
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	KmsKeyID    string              `json:"kmsKeyId,omitempty"`
	Tags        []tag               `json:"tags,omitempty"`
	CreatedAt   time.Time           `json:"createdAt"`
	ChangedAt   time.Time           `json:"changedAt"`
	DeletionAt  *time.Time          `json:"deletionAt,omitempty"` // scheduled deletion
	DeletedAt   *time.Time          `json:"deletedAt,omitempty"`  // when DeleteSecret was called
	Versions    map[string]*version `json:"versions"`
	Stages      map[string]string   `json:"stages"` // staging label -> version id
}

type version struct {
	ID        string    `json:"id"`
	String    *string   `json:"string,omitempty"`
	Binary    []byte    `json:"binary,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// New returns a Secrets Manager stand-in, loading its state from
// cfg.StateDir when that holds any.
func New(cfg Config) (*Secrets, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	wire.FillDefaults(&cfg.Account, &cfg.Region, &cfg.Clock)
	s := &Secrets{cfg: cfg, secrets: map[string]*secret{}}
	if cfg.StateDir == "" {
		return s, nil
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("secretsim state dir: %w", err)
	}
	b, err := regfile.ReadFile(filepath.Join(cfg.StateDir, stateFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("secretsim read state: %w", err)
	}
	if err := json.Unmarshal(b, &s.secrets); err != nil {
		return nil, fmt.Errorf("secretsim read state %s: %w", filepath.Join(cfg.StateDir, stateFile), err)
	}
	if s.secrets == nil {
		s.secrets = map[string]*secret{}
	}
	return s, nil
}

// SecretString returns the AWSCURRENT string value of the secret named by
// nameOrArn (a name, a full ARN or a partial ARN).
func (s *Secrets) SecretString(nameOrArn string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.find(nameOrArn)
	if sec == nil || sec.DeletedAt != nil {
		return "", fmt.Errorf("secret %q: %w", nameOrArn, ErrSecretNotFound)
	}
	v := sec.Versions[sec.Stages[stageCurrent]]
	if v == nil || v.String == nil {
		return "", fmt.Errorf("secret %q: %w", nameOrArn, ErrNoSecretString)
	}
	return *v.String, nil
}

// Service returns the Secrets Manager JSON-protocol operations for a
// wire.Mux.
func (s *Secrets) Service() wire.Service {
	return wire.Service{
		TargetPrefix: "secretsmanager",
		JSONVersion:  "1.1",
		Ops: map[string]wire.Op{
			"CreateSecret":   s.createSecret,
			"GetSecretValue": s.getSecretValue,
			"PutSecretValue": s.putSecretValue,
			"DescribeSecret": s.describeSecret,
			"DeleteSecret":   s.deleteSecret,
			"ListSecrets":    s.listSecrets,
		},
	}
}

// findLive finds a secret whose value may be read or changed: one marked
// for deletion answers as AWS does until it is restored or gone. Callers
// hold s.mu.
func (s *Secrets) findLive(id string) (*secret, error) {
	sec := s.find(id)
	if sec == nil {
		return nil, notFound()
	}
	if sec.DeletedAt != nil {
		return nil, markedForDeletion()
	}
	return sec, nil
}

// find resolves a name, full ARN or partial ARN; it also forgets secrets
// whose recovery window has passed. Callers hold s.mu.
func (s *Secrets) find(id string) *secret {
	s.purge()
	if sec, ok := s.secrets[id]; ok {
		return sec
	}
	if !strings.HasPrefix(id, "arn:") {
		return nil
	}
	for _, sec := range s.secrets {
		if sec.ARN == id || sec.ARN[:len(sec.ARN)-len("-XXXXXX")] == id {
			return sec
		}
	}
	return nil
}

// purge drops the secrets whose recovery window has passed. Callers hold
// s.mu.
func (s *Secrets) purge() {
	now := s.cfg.Clock.Now()
	for name, sec := range s.secrets {
		if sec.DeletionAt != nil && !now.Before(*sec.DeletionAt) {
			delete(s.secrets, name)
		}
	}
}

func notFound() error {
	return wire.Errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func markedForDeletion() error {
	return wire.Errorf(http.StatusBadRequest, "InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
}

type createSecretInput struct {
	Name               string
	ClientRequestToken string
	Description        string
	KmsKeyId           string
	SecretString       *string
	SecretBinary       []byte
	Tags               []tag
}

type secretOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionId     string   `json:"VersionId,omitempty"`
	VersionStages []string `json:"VersionStages,omitempty"`
}

func (s *Secrets) createSecret(_ context.Context, body []byte) (any, error) {
	var in createSecretInput
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if !nameRE.MatchString(in.Name) {
		return nil, wire.Errorf(http.StatusBadRequest, "InvalidParameterException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	if in.SecretString != nil && in.SecretBinary != nil {
		return nil, wire.Errorf(http.StatusBadRequest, "InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.find(in.Name); old != nil {
		if old.DeletedAt != nil {
			return nil, wire.Errorf(http.StatusBadRequest, "InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		// A retried request (same idempotency token and value) succeeds again.
		if v, ok := old.Versions[in.ClientRequestToken]; ok && in.ClientRequestToken != "" && sameValue(v, in.SecretString, in.SecretBinary) {
			return secretOutput{ARN: old.ARN, Name: old.Name, VersionId: v.ID}, nil
		}
		return nil, wire.Errorf(http.StatusBadRequest, "ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
	}
	now := s.cfg.Clock.Now()
	sec := &secret{
		ARN:         fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.cfg.Region, s.cfg.Account, in.Name, randomSuffix()),
		Name:        in.Name,
		Description: in.Description,
		KmsKeyID:    in.KmsKeyId,
		Tags:        in.Tags,
		CreatedAt:   now,
		ChangedAt:   now,
		Versions:    map[string]*version{},
		Stages:      map[string]string{},
	}
	out := secretOutput{ARN: sec.ARN, Name: sec.Name}
	if in.SecretString != nil || in.SecretBinary != nil {
		id := in.ClientRequestToken
		if id == "" {
			id = newUUID()
		}
		sec.Versions[id] = &version{ID: id, String: in.SecretString, Binary: in.SecretBinary, CreatedAt: now}
		sec.Stages[stageCurrent] = id
		out.VersionId = id
	}
	s.secrets[sec.Name] = sec
	if err := s.save(); err != nil {
		return nil, err
	}
	return out, nil
}

type getSecretValueInput struct {
	SecretId     string
	VersionId    string
	VersionStage string
}

type getSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionId     string   `json:"VersionId"`
	SecretString  *string  `json:"SecretString,omitempty"`
	SecretBinary  []byte   `json:"SecretBinary,omitempty"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   float64  `json:"CreatedDate"`
}

func (s *Secrets) getSecretValue(_ context.Context, body []byte) (any, error) {
	var in getSecretValueInput
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.SecretId == "" {
		return nil, wire.Errorf(http.StatusBadRequest, "InvalidParameterException", "SecretId is required.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.findLive(in.SecretId)
	if err != nil {
		return nil, err
	}
	id := in.VersionId
	if id == "" {
		stage := in.VersionStage
		if stage == "" {
			stage = stageCurrent
		}
		var ok bool
		if id, ok = sec.Stages[stage]; !ok {
			return nil, wire.Errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
		}
	} else if in.VersionStage != "" && sec.Stages[in.VersionStage] != id {
		return nil, wire.Errorf(http.StatusBadRequest, "InvalidRequestException", "You provided a VersionStage that is not associated to the provided VersionId.")
	}
	v, ok := sec.Versions[id]
	if !ok {
		return nil, wire.Errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", id)
	}
	return getSecretValueOutput{
		ARN:           sec.ARN,
		Name:          sec.Name,
		VersionId:     v.ID,
		SecretString:  v.String,
		SecretBinary:  v.Binary,
		VersionStages: sec.stagesOf(v.ID),
		CreatedDate:   wire.Epoch(v.CreatedAt),
	}, nil
}

type putSecretValueInput struct {
	SecretId           string
	ClientRequestToken string
	SecretString       *string
	SecretBinary       []byte
	VersionStages      []string
}

func (s *Secrets) putSecretValue(_ context.Context, body []byte) (any, error) {
	var in putSecretValueInput
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if (in.SecretString == nil) == (in.SecretBinary == nil) {
		return nil, wire.Errorf(http.StatusBadRequest, "InvalidParameterException", "You must provide either SecretString or SecretBinary, but not both.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.findLive(in.SecretId)
	if err != nil {
		return nil, err
	}
	id := in.ClientRequestToken
	if id == "" {
		id = newUUID()
	}
	if v, ok := sec.Versions[id]; ok {
		if sameValue(v, in.SecretString, in.SecretBinary) {
			return secretOutput{ARN: sec.ARN, Name: sec.Name, VersionId: id, VersionStages: sec.stagesOf(id)}, nil
		}
		return nil, wire.Errorf(http.StatusBadRequest, "ResourceExistsException", "You can't modify an existing version, you can only create new versions.")
	}
	now := s.cfg.Clock.Now()
	sec.Versions[id] = &version{ID: id, String: in.SecretString, Binary: in.SecretBinary, CreatedAt: now}
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{stageCurrent}
	}
	for _, st := range stages {
		if st == stageCurrent {
			if old, ok := sec.Stages[stageCurrent]; ok {
				sec.Stages[stagePrevious] = old
			}
		}
		sec.Stages[st] = id
	}
	sec.ChangedAt = now
	if err := s.save(); err != nil {
		return nil, err
	}
	return secretOutput{ARN: sec.ARN, Name: sec.Name, VersionId: id, VersionStages: sec.stagesOf(id)}, nil
}

type describeSecretOutput struct {
	ARN                string              `json:"ARN"`
	Name               string              `json:"Name"`
	Description        string              `json:"Description,omitempty"`
	KmsKeyId           string              `json:"KmsKeyId,omitempty"`
	Tags               []tag               `json:"Tags,omitempty"`
	CreatedDate        float64             `json:"CreatedDate"`
	LastChangedDate    float64             `json:"LastChangedDate"`
	DeletedDate        *float64            `json:"DeletedDate,omitempty"`
	VersionIdsToStages map[string][]string `json:"VersionIdsToStages,omitempty"`
}

func (s *Secrets) describeSecret(_ context.Context, body []byte) (any, error) {
	var in struct{ SecretId string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.find(in.SecretId)
	if sec == nil {
		return nil, notFound()
	}
	out := describeSecretOutput{
		ARN:             sec.ARN,
		Name:            sec.Name,
		Description:     sec.Description,
		KmsKeyId:        sec.KmsKeyID,
		Tags:            sec.Tags,
		CreatedDate:     wire.Epoch(sec.CreatedAt),
		LastChangedDate: wire.Epoch(sec.ChangedAt),
	}
	if sec.DeletedAt != nil {
		d := wire.Epoch(*sec.DeletedAt)
		out.DeletedDate = &d
	}
	if len(sec.Stages) > 0 {
		out.VersionIdsToStages = map[string][]string{}
		for id := range sec.Versions {
			if st := sec.stagesOf(id); len(st) > 0 {
				out.VersionIdsToStages[id] = st
			}
		}
	}
	return out, nil
}

type deleteSecretInput struct {
	SecretId                   string
	RecoveryWindowInDays       *int64
	ForceDeleteWithoutRecovery bool
}

type deleteSecretOutput struct {
	ARN          string  `json:"ARN"`
	Name         string  `json:"Name"`
	DeletionDate float64 `json:"DeletionDate"`
}

func (s *Secrets) deleteSecret(_ context.Context, body []byte) (any, error) {
	var in deleteSecretInput
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.ForceDeleteWithoutRecovery && in.RecoveryWindowInDays != nil {
		return nil, wire.Errorf(http.StatusBadRequest, "InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, wire.Errorf(http.StatusBadRequest, "InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.find(in.SecretId)
	if sec == nil {
		return nil, notFound()
	}
	now := s.cfg.Clock.Now()
	out := deleteSecretOutput{ARN: sec.ARN, Name: sec.Name, DeletionDate: wire.Epoch(now)}
	if in.ForceDeleteWithoutRecovery {
		delete(s.secrets, sec.Name)
	} else {
		if sec.DeletedAt != nil {
			return nil, markedForDeletion()
		}
		when := now.Add(time.Duration(days) * 24 * time.Hour)
		sec.DeletedAt, sec.DeletionAt = &now, &when
		out.DeletionDate = wire.Epoch(when)
	}
	if err := s.save(); err != nil {
		return nil, err
	}
	return out, nil
}

func (sec *secret) stagesOf(id string) []string {
	var st []string
	for label, vid := range sec.Stages {
		if vid == id {
			st = append(st, label)
		}
	}
	slices.Sort(st)
	return st
}

func sameValue(v *version, str *string, bin []byte) bool {
	if (v.String == nil) != (str == nil) {
		return false
	}
	if str != nil && *v.String != *str {
		return false
	}
	return string(v.Binary) == string(bin)
}

func validateTags(tags []tag) error {
	if len(tags) > 50 {
		return wire.Errorf(http.StatusBadRequest, "InvalidParameterException", "a secret takes at most 50 tags, got %d", len(tags))
	}
	for i, t := range tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return wire.Errorf(http.StatusBadRequest, "InvalidParameterException", "tag %d: the key must be 1-128 characters and the value at most 256", i)
		}
	}
	return nil
}

// save writes the state file when a StateDir is configured. Callers hold
// s.mu.
func (s *Secrets) save() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	b, err := json.MarshalIndent(s.secrets, "", "  ")
	if err != nil {
		return fmt.Errorf("encode secretsim state: %w", err)
	}
	path := filepath.Join(s.cfg.StateDir, stateFile)
	tmp, err := os.CreateTemp(s.cfg.StateDir, stateFile+".*")
	if err != nil {
		return fmt.Errorf("write secretsim state: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write secretsim state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write secretsim state: %w", err)
	}
	return nil
}

const suffixAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = suffixAlphabet[int(b[i])%len(suffixAlphabet)]
	}
	return string(b[:])
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
