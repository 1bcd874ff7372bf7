package wire

import (
	"encoding/json"
	"fmt"
	"io"
)

// SnapshotHeader opens a stand-in's JSON snapshot: the format version, and
// the account and region its ARNs were built for, which a restore must
// match.
type SnapshotHeader struct {
	Version int    `json:"version"`
	Account string `json:"account"`
	Region  string `json:"region"`
}

// Check reports a header of another version, account or region than the
// restoring stand-in's. service names the stand-in in the message ("sqs").
func (h SnapshotHeader) Check(service string, version int, account, region string) error {
	if h.Version != version {
		return fmt.Errorf("%s snapshot: version %d, want %d", service, h.Version, version)
	}
	if h.Account != account || h.Region != region {
		return fmt.Errorf("%s snapshot: account %q region %q, want account %q region %q", service, h.Account, h.Region, account, region)
	}
	return nil
}

// EncodeSnapshot renders v as an indented, newline-terminated snapshot, so
// that a saved state reads and diffs well.
func EncodeSnapshot(service string, v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %s snapshot: %w", service, err)
	}
	return append(b, '\n'), nil
}

// DecodeSnapshot decodes a snapshot into v, refusing unknown fields: a
// field this version does not know would be silently lost otherwise.
func DecodeSnapshot(r io.Reader, service string, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode %s snapshot: %w", service, err)
	}
	return nil
}
