package dynamosim_test

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/pullheal/pullheal/internal/testbed/localaws/dynamosim"
	"github.com/pullheal/pullheal/internal/testbed/localaws/simtest"
	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

func newClient(t *testing.T) *dynamodb.Client {
	t.Helper()
	return dynamodb.NewFromConfig(simtest.Config(simtest.Serve(t, dynamosim.New(dynamosim.Config{}).Service())))
}

func createLeases(t *testing.T, c *dynamodb.Client) {
	t.Helper()
	_, err := c.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String("leases"),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

// acquire is the lease pattern the agent uses: create the item, or take it
// over when its lease expired and it is not done.
func acquire(ctx context.Context, c *dynamodb.Client, id, owner string, now, ttl int) error {
	_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String("leases"),
		Item:                     map[string]types.AttributeValue{"id": s(id), "owner": s(owner), "expires": n(fmt.Sprint(now + ttl)), "state": s("pending")},
		ConditionExpression:      aws.String("attribute_not_exists(id) OR (#e < :now AND #s <> :done)"),
		ExpressionAttributeNames: map[string]string{"#e": "expires", "#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": n(fmt.Sprint(now)), ":done": s("done"),
		},
	})
	return err
}

func TestConditionalWritesElectOneOwner(t *testing.T) {
	c := newClient(t)
	createLeases(t, c)
	ctx := context.Background()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := acquire(ctx, c, "rw-1", fmt.Sprint("agent-", i), 100, 30)
			var ccf *types.ConditionalCheckFailedException
			switch {
			case err == nil:
				wins.Add(1)
			case errors.As(err, &ccf):
			default:
				t.Errorf("acquire: %v", err)
			}
		}(i)
	}
	wg.Wait()
	if got := wins.Load(); got != 1 {
		t.Fatalf("%d owners, want exactly 1", got)
	}
	// Before expiry nobody takes over; after expiry one can; once done, never.
	if err := acquire(ctx, c, "rw-1", "late", 120, 30); err == nil {
		t.Fatal("took over a live lease")
	}
	if err := acquire(ctx, c, "rw-1", "late", 131, 30); err != nil {
		t.Fatalf("take over an expired lease: %v", err)
	}
	_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String("leases"),
		Key:                       map[string]types.AttributeValue{"id": s("rw-1")},
		UpdateExpression:          aws.String("SET #s = :done, revision = :rev, attempts = if_not_exists(attempts, :zero) + :one"),
		ConditionExpression:       aws.String("#o = :me"),
		ExpressionAttributeNames:  map[string]string{"#s": "state", "#o": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":done": s("done"), ":rev": s("web:43"), ":me": s("late"), ":zero": n("0"), ":one": n("1")},
	})
	if err != nil {
		t.Fatalf("mark done: %v", err)
	}
	if err := acquire(ctx, c, "rw-1", "later", 1000, 30); err == nil {
		t.Fatal("took over a done lease")
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("leases"), Key: map[string]types.AttributeValue{"id": s("rw-1")}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	got := map[string]string{}
	for k, v := range out.Item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			got[k] = v.Value
		case *types.AttributeValueMemberN:
			got[k] = v.Value
		}
	}
	want := map[string]string{"id": "rw-1", "owner": "late", "expires": "161", "state": "done", "revision": "web:43", "attempts": "1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("item (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("missing"), Key: map[string]types.AttributeValue{"id": s("x")}})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("get from a missing table: %v, want ResourceNotFoundException", err)
	}
	createLeases(t, c)
	tests := []struct {
		name string
		in   *dynamodb.PutItemInput
	}{
		{"missing key", &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: map[string]types.AttributeValue{"other": s("x")}}},
		{"key type", &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: map[string]types.AttributeValue{"id": n("1")}}},
		{"bad condition", &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: map[string]types.AttributeValue{"id": s("x")}, ConditionExpression: aws.String("id = = :x"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":x": s("x")}}},
		{"undefined value", &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: map[string]types.AttributeValue{"id": s("x")}, ConditionExpression: aws.String("id = :x")}},
		{"unused name", &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: map[string]types.AttributeValue{"id": s("x")}, ConditionExpression: aws.String("attribute_not_exists(id)"),
			ExpressionAttributeNames: map[string]string{"#unused": "x"}}},
		{"reserved word", &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: map[string]types.AttributeValue{"id": s("x")}, ConditionExpression: aws.String("attribute_not_exists(status)")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.PutItem(ctx, tt.in)
			var apiErr interface{ ErrorCode() string }
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" {
				t.Fatalf("got %v, want ValidationException", err)
			}
		})
	}
	_, err = c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("leases"), Key: map[string]types.AttributeValue{"id": s("nope")},
		ConditionExpression: aws.String("attribute_exists(id)")})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("conditional delete of a missing item: %v, want ConditionalCheckFailedException", err)
	}
}

// TestResponsesCarryCRC32 checks the header DynamoDB's SDK client verifies:
// without it the client logs a checksum warning on every call.
func TestResponsesCarryCRC32(t *testing.T) {
	srv := httptest.NewServer(wire.NewMux(dynamosim.New(dynamosim.Config{}).Service()))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if got, want := resp.Header.Get("X-Amz-Crc32"), fmt.Sprint(crc32.ChecksumIEEE(body)); got != want {
		t.Errorf("X-Amz-Crc32 %q, want %q for %s", got, want, body)
	}
}
