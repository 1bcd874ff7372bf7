package wire_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

func TestCheckAccountRegion(t *testing.T) {
	tests := []struct {
		account, region string
		want            string
	}{
		{"", "", ""},
		{"123456789012", "eu-west-1", ""},
		{"000000000000", "us-gov-west-1", ""},
		{"12345678901", "", `account "12345678901" is not 12 digits`},
		{"12345678901a", "us-east-1", `account "12345678901a" is not 12 digits`},
		{"", "mars", `region "mars" is not a region name such as us-east-1`},
		{"123456789012", "US-EAST-1", `region "US-EAST-1" is not a region name such as us-east-1`},
	}
	for _, tt := range tests {
		got := ""
		if err := wire.CheckAccountRegion(tt.account, tt.region); err != nil {
			got = err.Error()
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("CheckAccountRegion(%q, %q) (-want +got):\n%s", tt.account, tt.region, diff)
		}
	}
}

func TestFillDefaults(t *testing.T) {
	var account, region string
	var clock wire.Clock
	wire.FillDefaults(&account, &region, &clock)
	if account != wire.DefaultAccount || region != wire.DefaultRegion {
		t.Errorf("defaults = %q, %q; want %q, %q", account, region, wire.DefaultAccount, wire.DefaultRegion)
	}
	if _, ok := clock.(wire.SystemClock); !ok {
		t.Errorf("clock = %T; want wire.SystemClock", clock)
	}

	account, region = "210987654321", "eu-central-1"
	fixed := wire.NewManualClock(time.Unix(1700000000, 0))
	clock = fixed
	wire.FillDefaults(&account, &region, &clock)
	if account != "210987654321" || region != "eu-central-1" || clock != wire.Clock(fixed) {
		t.Errorf("set values changed to %q, %q, %v", account, region, clock)
	}
}
