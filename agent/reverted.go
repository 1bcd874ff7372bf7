package agent

import (
	"context"
	"fmt"
)

// TagReverted marks a corrected revision a person rolled a service back
// from (pullheal revert). Its value names the services, as CLUSTER/SERVICE
// separated by spaces. While the tag is there, the agent does not roll a
// service onto that revision again: the same failure yields the same
// rewrite ID, hence the same revision, and a person has said no to it.
const TagReverted = "pullheal:reverted"

// revertedAction returns the service action for a corrected revision that
// carries TagReverted ("proposed: ..."), or "" when the agent may roll the
// service onto it.
func (h *Healer) revertedAction(ctx context.Context, arn string) (string, error) {
	d, err := h.describe(ctx, arn)
	if err != nil {
		return "", err
	}
	for _, t := range d.Tags() {
		if t.Key == TagReverted {
			return fmt.Sprintf("proposed: %s was reverted (tag %s=%q); deploy it with pullheal approve, or remove the tag to let pullheal roll it out again", arn, TagReverted, t.Value), nil
		}
	}
	return "", nil
}
