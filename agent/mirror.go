package agent

import (
	"context"

	"github.com/pullheal/pullheal/internal/plan"
)

// Mirrorer copies an image the policy allowlists for mirroring into ECR and
// returns the reference the corrected revision uses (pinned to the copied
// digest).
type Mirrorer interface {
	Mirror(ctx context.Context, step plan.Step) (string, error)
}
