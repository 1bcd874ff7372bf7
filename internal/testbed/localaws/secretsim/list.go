package secretsim

import (
	"context"
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

type listSecretsInput struct {
	IncludePlannedDeletion bool
	MaxResults             *int
	NextToken              string
	Filters                []struct {
		Key    string
		Values []string
	}
	SortOrder string
	SortBy    string
}

type secretListEntry struct {
	ARN                    string              `json:"ARN"`
	Name                   string              `json:"Name"`
	Description            string              `json:"Description,omitempty"`
	KmsKeyId               string              `json:"KmsKeyId,omitempty"`
	Tags                   []tag               `json:"Tags,omitempty"`
	CreatedDate            float64             `json:"CreatedDate"`
	LastChangedDate        float64             `json:"LastChangedDate"`
	DeletedDate            *float64            `json:"DeletedDate,omitempty"`
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"`
}

func invalidParameter(format string, args ...any) error {
	return wire.Errorf(http.StatusBadRequest, "InvalidParameterException", format, args...)
}

// listSecrets lists the account's secrets (without those scheduled for
// deletion unless asked), filtered as the API reference describes: each
// filter's values are alternatives, filters all apply, a value starting
// with "!" negates; name and tag filters are case-sensitive prefixes,
// description a case-insensitive prefix, and "all" looks for each word in
// any of them. Sorted by creation date unless SortBy says otherwise.
func (s *Secrets) listSecrets(_ context.Context, body []byte) (any, error) {
	var in listSecretsInput
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, invalidParameter("MaxResults must be between 1 and 100, got %d.", *in.MaxResults)
		}
		limit = *in.MaxResults
	}
	for _, f := range in.Filters {
		switch f.Key {
		case "description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all":
		default:
			return nil, invalidParameter("Invalid filter key: %s.", f.Key)
		}
		if len(f.Values) == 0 {
			return nil, invalidParameter("Filter %s needs at least one value.", f.Key)
		}
	}
	switch in.SortOrder {
	case "", "asc", "desc":
	default:
		return nil, invalidParameter("Invalid SortOrder: %s.", in.SortOrder)
	}
	switch in.SortBy {
	case "", "created-date", "last-accessed-date", "last-changed-date", "name":
	default:
		return nil, invalidParameter("Invalid SortBy: %s.", in.SortBy)
	}
	start := 0
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		n, aerr := strconv.Atoi(string(b))
		if err != nil || aerr != nil || n < 0 {
			return nil, wire.Errorf(http.StatusBadRequest, "InvalidNextTokenException", "The NextToken value is invalid.")
		}
		start = n
	}

	s.mu.Lock()
	s.purge()
	var list []*secret
	for _, sec := range s.secrets {
		if sec.DeletedAt != nil && !in.IncludePlannedDeletion {
			continue
		}
		if matchesAll(sec, in) {
			list = append(list, sec)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		less := a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.Name < b.Name)
		switch in.SortBy {
		case "name":
			less = a.Name < b.Name
		case "last-changed-date":
			less = a.ChangedAt.Before(b.ChangedAt) || (a.ChangedAt.Equal(b.ChangedAt) && a.Name < b.Name)
		}
		if in.SortOrder == "desc" {
			return !less
		}
		return less
	})
	entries := make([]secretListEntry, 0, limit)
	end := min(start+limit, len(list))
	for _, sec := range list[min(start, len(list)):end] {
		e := secretListEntry{ARN: sec.ARN, Name: sec.Name, Description: sec.Description, KmsKeyId: sec.KmsKeyID,
			Tags: sec.Tags, CreatedDate: wire.Epoch(sec.CreatedAt), LastChangedDate: wire.Epoch(sec.ChangedAt)}
		if sec.DeletedAt != nil {
			d := wire.Epoch(*sec.DeletedAt)
			e.DeletedDate = &d
		}
		for id := range sec.Versions {
			if st := sec.stagesOf(id); len(st) > 0 {
				if e.SecretVersionsToStages == nil {
					e.SecretVersionsToStages = map[string][]string{}
				}
				e.SecretVersionsToStages[id] = st
			}
		}
		entries = append(entries, e)
	}
	s.mu.Unlock()
	out := map[string]any{"SecretList": entries}
	if end < len(list) {
		out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	return out, nil
}

func matchesAll(sec *secret, in listSecretsInput) bool {
	for _, f := range in.Filters {
		if !matchesFilter(sec, f.Key, f.Values) {
			return false
		}
	}
	return true
}

// matchesFilter: the secret matches one of the values; a negated value
// ("!x") matches when the secret does not match x.
func matchesFilter(sec *secret, key string, values []string) bool {
	for _, v := range values {
		neg := strings.HasPrefix(v, "!")
		if neg {
			v = v[1:]
		}
		if matchesValue(sec, key, v) != neg {
			return true
		}
	}
	return false
}

func matchesValue(sec *secret, key, v string) bool {
	anyTag := func(f func(tag) string, prefix string, fold bool) bool {
		for _, t := range sec.Tags {
			if hasPrefix(f(t), prefix, fold) {
				return true
			}
		}
		return false
	}
	switch key {
	case "name":
		return strings.HasPrefix(sec.Name, v)
	case "description":
		return hasPrefix(sec.Description, v, true)
	case "tag-key":
		return anyTag(func(t tag) string { return t.Key }, v, false)
	case "tag-value":
		return anyTag(func(t tag) string { return t.Value }, v, false)
	case "all":
		for _, word := range strings.Fields(v) {
			w := strings.ToLower(word)
			found := strings.Contains(strings.ToLower(sec.Name), w) || strings.Contains(strings.ToLower(sec.Description), w)
			for _, t := range sec.Tags {
				found = found || strings.Contains(strings.ToLower(t.Key), w) || strings.Contains(strings.ToLower(t.Value), w)
			}
			if !found {
				return false
			}
		}
		return true
	}
	// primary-region and owning-service: the test bed replicates nothing
	// and no service owns its secrets.
	return false
}

func hasPrefix(s, prefix string, fold bool) bool {
	if fold {
		return strings.HasPrefix(strings.ToLower(s), strings.ToLower(prefix))
	}
	return strings.HasPrefix(s, prefix)
}
