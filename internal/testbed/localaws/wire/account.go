package wire

import (
	"fmt"
	"regexp"
)

// The account and region every stand-in uses when its configuration leaves
// them empty, so that ARNs and URLs of one test bed agree.
const (
	DefaultAccount = "123456789012"
	DefaultRegion  = "us-east-1"
)

var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// CheckAccountRegion reports an account that is not 12 digits or a region
// that is not a region name. Empty values pass: they stand for the defaults.
func CheckAccountRegion(account, region string) error {
	if account != "" && !accountPattern.MatchString(account) {
		return fmt.Errorf("account %q is not 12 digits", account)
	}
	if region != "" && !regionPattern.MatchString(region) {
		return fmt.Errorf("region %q is not a region name such as us-east-1", region)
	}
	return nil
}

// FillDefaults sets an empty account, region or clock to DefaultAccount,
// DefaultRegion or the wall clock.
func FillDefaults(account, region *string, clock *Clock) {
	if *account == "" {
		*account = DefaultAccount
	}
	if *region == "" {
		*region = DefaultRegion
	}
	if *clock == nil {
		*clock = SystemClock{}
	}
}
