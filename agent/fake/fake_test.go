package fake_test

import (
	"github.com/pullheal/pullheal/agent"
	"github.com/pullheal/pullheal/agent/fake"
)

// The fakes satisfy the agent's interfaces; the compiler checks it.
var (
	_ agent.ECSAPI    = (*fake.ECS)(nil)
	_ agent.SQSAPI    = (*fake.SQS)(nil)
	_ agent.EventsAPI = (*fake.Events)(nil)
	_ agent.ECRAPI    = (*fake.ECR)(nil)
)
