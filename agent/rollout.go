package agent

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/pullheal/pullheal/internal/ecsarn"
	"github.com/pullheal/pullheal/internal/ecsevent"
	"github.com/pullheal/pullheal/policy"
)

// rollService moves a service that still runs the failing revision onto the
// corrected one, when its deployment controller and the policy allow.
func (h *Healer) rollService(ctx context.Context, task *ecsevent.Task, rv *Review, rewritten int, pol *policy.Policy, log *slog.Logger) error {
	if rv.Service == "" {
		rv.ServiceAction = "none: the task was not started by a service (" + describeGroup(task) + "); the corrected revision is registered for its owner to use"
		return nil
	}
	svc, gone, err := h.service(ctx, task.ClusterArn, rv.Service)
	if err != nil {
		return err
	}
	if svc == nil {
		rv.ServiceAction = "none: " + gone
		return nil
	}
	current := aws.ToString(svc.TaskDefinition)
	controller := ecstypes.DeploymentControllerTypeEcs
	if svc.DeploymentController != nil && svc.DeploymentController.Type != "" {
		controller = svc.DeploymentController.Type
	}
	switch {
	case sameRevision(current, rv.TaskDefinitionArn):
		rv.ServiceAction = "none: the service already runs the corrected revision"
		return nil
	case !sameRevision(current, rv.SourceTaskDefinitionArn):
		rv.ServiceAction = "none: the service has moved on to " + current + " and is left alone"
		return nil
	case controller != ecstypes.DeploymentControllerTypeEcs:
		rv.ServiceAction = fmt.Sprintf("proposed: the service's deployment controller is %s, which pullheal does not drive; deploy the corrected revision through it", controller)
		return nil
	case pol != nil && pol.Heal.ServiceUpdate == policy.ProposeOnly:
		rv.ServiceAction = "proposed: the policy's update mode is propose; update the service to the corrected revision after review"
		return nil
	}
	if action, err := h.revertedAction(ctx, rv.TaskDefinitionArn); err != nil || action != "" {
		rv.ServiceAction = action
		return err
	}
	_, err = h.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(task.ClusterArn), Service: aws.String(rv.Service), TaskDefinition: aws.String(rv.TaskDefinitionArn),
	})
	if err != nil {
		return fmt.Errorf("update service %s: %w", rv.Service, err)
	}
	rv.ServiceAction = "updated: service " + rv.Service + " rolls onto the corrected revision"
	rv.ServiceUpdated = true
	h.metrics.ServicesUpdated.Inc()
	h.metrics.PullsAvoided.Add(float64(rewritten) * float64(max(svc.DesiredCount, 1)))
	log.Info("service updated", "service", rv.Service, "target", rv.TaskDefinitionArn)
	return nil
}

// sameRevision reports whether two task-definition references name the
// same revision. DescribeServices documents the full ARN, but a service
// updated with family:revision (which UpdateService accepts) may be
// reported in that form (moto echoes it back), and taking it for a service
// that moved on would leave a failing service unhealed.
func sameRevision(a, b string) bool {
	if a == b {
		return true
	}
	fa, ra, okA := ecsarn.TaskDefinition(a)
	fb, rb, okB := ecsarn.TaskDefinition(b)
	return okA && okB && fa == fb && ra == rb
}

func describeGroup(task *ecsevent.Task) string {
	if task.Group == "" {
		return "no group"
	}
	return "group " + task.Group
}
