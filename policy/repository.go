package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/pullheal/pullheal/internal/regfile"
)

// defaultRepository holds ECR's own defaults for a new repository, the base
// mirror.repository is laid over (and each images rule's repository over
// that).
func defaultRepository() RepositorySettings {
	return RepositorySettings{TagMutability: "MUTABLE", Encryption: Encryption{Type: "AES256"}}
}

// repoOverlay is a repository section as written: what it sets, and what it
// leaves to the settings it is laid over.
type repoOverlay struct {
	scanOnPush    *bool
	tagMutability string
	encryption    *Encryption
	tags          map[string]string
	lifecycle     *string
}

func (o repoOverlay) apply(base RepositorySettings) RepositorySettings {
	r := base
	if o.scanOnPush != nil {
		r.ScanOnPush = *o.scanOnPush
	}
	if o.tagMutability != "" {
		r.TagMutability = o.tagMutability
	}
	if o.encryption != nil {
		r.Encryption = *o.encryption
	}
	if len(o.tags) > 0 {
		merged := make(map[string]string, len(base.Tags)+len(o.tags))
		for k, v := range base.Tags {
			merged[k] = v
		}
		for k, v := range o.tags {
			merged[k] = v
		}
		r.Tags = merged
	}
	if o.lifecycle != nil {
		r.LifecyclePolicy = *o.lifecycle
	}
	return r
}

func (d *decoder) repository(n *yaml.Node, path string) repoOverlay {
	var o repoOverlay
	f := d.mapping(n, path, "repository")
	if f == nil {
		return o
	}
	if v := f["scanOnPush"]; v != nil {
		if b, ok := d.boolean(v, field(path, "scanOnPush")); ok {
			o.scanOnPush = &b
		}
	}
	if v := f["tagMutability"]; v != nil {
		o.tagMutability, _ = d.enum(v, field(path, "tagMutability"), "MUTABLE", "IMMUTABLE")
	}
	if v := f["encryption"]; v != nil {
		o.encryption = d.encryption(v, field(path, "encryption"))
	}
	if v := f["tags"]; v != nil {
		o.tags = d.resourceTags(v, field(path, "tags"))
	}
	inline, file := f["lifecyclePolicy"], f["lifecyclePolicyFile"]
	switch {
	case inline != nil && file != nil:
		d.errorf(file, "%s: set lifecyclePolicy or lifecyclePolicyFile, not both", path)
	case inline != nil:
		if s, ok := d.str(inline, field(path, "lifecyclePolicy")); ok {
			if err := checkLifecycle(s); err != nil {
				d.errorf(inline, "%s: %v", field(path, "lifecyclePolicy"), err)
			} else {
				o.lifecycle = &s
			}
		}
	case file != nil:
		if s, ok := d.str(file, field(path, "lifecyclePolicyFile")); ok {
			if text, err := d.readLifecycle(s); err != nil {
				d.errorf(file, "%s: %v", field(path, "lifecyclePolicyFile"), err)
			} else {
				o.lifecycle = &text
			}
		}
	}
	return o
}

func (d *decoder) encryption(n *yaml.Node, path string) *Encryption {
	f := d.mapping(n, path, "encryption")
	if f == nil {
		return nil
	}
	var e Encryption
	if v := d.required(f, "type", n, path); v != nil {
		e.Type, _ = d.enum(v, field(path, "type"), "AES256", "KMS", "KMS_DSSE")
	}
	if v := f["kmsKey"]; v != nil {
		if s, ok := d.str(v, field(path, "kmsKey")); ok {
			switch {
			case e.Type == "AES256":
				d.errorf(v, "%s: a KMS key needs type KMS or KMS_DSSE, not AES256", field(path, "kmsKey"))
			case s == "":
				d.errorf(v, "%s: empty key; remove it to use the AWS managed key", field(path, "kmsKey"))
			default:
				e.KMSKey = s
			}
		}
	}
	if e.Type == "" {
		return nil
	}
	return &e
}

// resourceTags decodes ECR resource tags, with AWS's limits: 50 tags, keys
// of 1 to 128 characters, values of up to 256, no "aws:" keys.
func (d *decoder) resourceTags(n *yaml.Node, path string) map[string]string {
	if !d.plain(n, path) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: must be a mapping of tag keys to values, got %s", path, describe(n))
		return nil
	}
	tags := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, ok := d.str(k, path)
		if !ok {
			continue
		}
		kp := field(path, key)
		switch _, dup := tags[key]; {
		case dup:
			d.errorf(k, "%s: duplicate tag key %q", path, key)
			continue
		case key == "" || utf8.RuneCountInString(key) > 128:
			d.errorf(k, "%s: tag key %q must be 1 to 128 characters", path, key)
			continue
		case strings.HasPrefix(strings.ToLower(key), "aws:"):
			d.errorf(k, "%s: tag key %q: the aws: prefix is reserved", path, key)
			continue
		case !tagText(key):
			d.errorf(k, "%s: tag key %q: use letters, digits, spaces and _ . : / = + - @", path, key)
			continue
		}
		val := ""
		if !isNull(v) {
			if val, ok = d.str(v, kp); !ok {
				continue
			}
		}
		if utf8.RuneCountInString(val) > 256 || !tagText(val) {
			d.errorf(v, "%s: tag value must be at most 256 letters, digits, spaces and _ . : / = + - @", kp)
			continue
		}
		tags[key] = val
	}
	if len(tags) > 50 {
		d.errorf(n, "%s: %d tags; ECR allows at most 50", path, len(tags))
	}
	return tags
}

func tagText(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.Zs, r) && !strings.ContainsRune("_.:/=+-@", r) {
			return false
		}
	}
	return true
}

// checkLifecycle checks that s is an ECR lifecycle policy document: a JSON
// object with a non-empty rules list. ECR checks the rules themselves when
// the policy is put.
func checkLifecycle(s string) error {
	var doc struct {
		Rules []json.RawMessage `json:"rules"`
	}
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineCol(s, int(se.Offset))
			return fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, se)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("not a lifecycle policy: want a JSON object with a \"rules\" list")
		}
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if len(doc.Rules) == 0 {
		return errors.New("lifecycle policy has no rules (want {\"rules\": [...]})")
	}
	return nil
}

// lineCol turns a json.SyntaxError offset (bytes read, the bad one
// included) into a 1-based line and column.
func lineCol(s string, offset int) (int, int) {
	at := min(max(offset-1, 0), len(s))
	before := s[:at]
	return strings.Count(before, "\n") + 1, at - strings.LastIndexByte(before, '\n')
}

// readLifecycle reads a lifecycle policy file named relative to the policy
// file.
func (d *decoder) readLifecycle(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("empty file name")
	case filepath.IsAbs(name):
		return "", fmt.Errorf("%q: give a path relative to the policy file", name)
	}
	p := filepath.Join(d.dir, filepath.FromSlash(name))
	// Confined to the policy's folder: a policy handed over by someone else
	// must not make the agent read (and quote back) any other file.
	f, err := regfile.OpenIn(d.dir, filepath.FromSlash(name))
	if err != nil {
		if strings.Contains(err.Error(), "escapes from parent") {
			return "", fmt.Errorf("%q leaves the policy's folder %s (a path, or a symlink, that points outside it)", name, d.dir)
		}
		return "", fmt.Errorf("%s: %s", p, FileProblem(err))
	}
	defer f.Close()
	data, err := readLimited(f)
	switch {
	case err != nil:
		return "", fmt.Errorf("%s: %v", p, err)
	case len(data) > MaxFileSize:
		return "", fmt.Errorf("%s is too large (over %d bytes)", p, MaxFileSize)
	}
	if err := checkLifecycle(string(data)); err != nil {
		return "", fmt.Errorf("%s: %v", p, err)
	}
	return string(data), nil
}
