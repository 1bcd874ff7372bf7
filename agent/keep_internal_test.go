package agent

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pullheal/pullheal/internal/testbed/bedtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws"
	"github.com/pullheal/pullheal/internal/testbed/scenario"
)

// TestKeptLeaseOutlivesItsDurationAndDiesWithItsHolder runs two replicas'
// leases on the test bed's DynamoDB: a holder that renews keeps a lease
// well past its duration; one that stops renewing without releasing (a
// replica that died) loses it within one duration to the other replica,
// which takes it over as not fresh; and the first, should it wake up,
// finds its heal's context ended.
func TestKeptLeaseOutlivesItsDurationAndDiesWithItsHolder(t *testing.T) {
	ctx := context.Background()
	srv, _, sc := bedtest.Start(t, ctx, localaws.Config{}, scenario.Options{HubUser: localaws.HubUser, HubToken: localaws.HubToken})
	db := dynamodb.NewFromConfig(srv.AWSConfig())
	const ttl = 1500 * time.Millisecond
	a, err := newTableLeases(db, sc.LockTable, "a", ttl, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newTableLeases(db, sc.LockTable, "b", ttl, nil)
	if err != nil {
		t.Fatal(err)
	}
	held, err := a.Acquire(ctx, "failure")
	if err != nil || !held.Fresh {
		t.Fatalf("first acquire: %+v, %v; want a fresh lease", held, err)
	}
	life, die := context.WithCancel(ctx)
	work, _ := held.Keep(life, slog.New(slog.DiscardHandler))
	// Renewed, the lease outlives twice its duration.
	time.Sleep(2 * ttl)
	_, err = b.Acquire(ctx, "failure")
	var busy *busyError
	if !errors.As(err, &busy) || !busy.until.After(time.Now()) {
		t.Fatalf("acquire while renewed: %v; want busy until a time to come", err)
	}
	if work.Err() != nil {
		t.Fatalf("the holder's heal ended while it held its lease: %v", context.Cause(work))
	}
	// The holder dies: no more renewals, no release.
	die()
	deadline := time.Now().Add(3 * ttl)
	var taken *lease
	for taken == nil && time.Now().Before(deadline) {
		taken, err = b.Acquire(ctx, "failure")
		if err != nil && !errors.Is(err, errBusy) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if taken == nil {
		t.Fatal("the dead holder's lease was not taken over within its duration")
	}
	if taken.Fresh {
		t.Error("a lease taken over from a dead holder claims to be fresh: a revision it registered would not be looked for")
	}
	// The old holder can no longer record anything under it.
	if err := held.Registered(ctx, "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"); !errors.Is(err, errBusy) {
		t.Errorf("the dead holder recorded a revision under a lease it lost: %v", err)
	}

	// A holder still running when another took its lease over learns it
	// at its next renewal and its heal stops.
	live, stop := taken.Keep(ctx, slog.New(slog.DiscardHandler))
	defer stop()
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &sc.LockTable, Key: b.key("failure"), UpdateExpression: aws.String("SET #h = :other"),
		ExpressionAttributeNames: map[string]string{"#h": "holder"}, ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":other": str("c")},
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-live.Done():
		if !errors.Is(context.Cause(live), errBusy) {
			t.Errorf("heal ended with %v, want the lease lost to another replica", context.Cause(live))
		}
	case <-time.After(2 * ttl):
		t.Error("a holder whose lease was taken over kept healing")
	}
}
