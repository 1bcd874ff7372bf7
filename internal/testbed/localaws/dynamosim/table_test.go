package dynamosim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// TestTableCreatingThenActive: CreateTable answers CREATING (DynamoDB API
// reference, CreateTable: "DynamoDB sets the TableStatus to CREATING"),
// and the SDK's waiter then finds the table ACTIVE.
func TestTableCreatingThenActive(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	out, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("leases"),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	d := out.TableDescription
	if d.TableStatus != types.TableStatusCreating {
		t.Errorf("CreateTable status %s, want CREATING", d.TableStatus)
	}
	if d.ProvisionedThroughput == nil || aws.ToInt64(d.ProvisionedThroughput.ReadCapacityUnits) != 0 || d.DeletionProtectionEnabled == nil || *d.DeletionProtectionEnabled {
		t.Errorf("on-demand table: throughput %+v deletion protection %v, want zero capacity and false", d.ProvisionedThroughput, d.DeletionProtectionEnabled)
	}
	w := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 10 * time.Millisecond })
	desc, err := w.WaitForOutput(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("leases")}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Table.TableStatus != types.TableStatusActive {
		t.Errorf("after the waiter: %s, want ACTIVE", desc.Table.TableStatus)
	}
	_, err = c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("provisioned"),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
	})
	if code := apiCode(err); code != "ValidationException" {
		t.Errorf("PROVISIONED without throughput: %v, want ValidationException", err)
	}
}

// TestTimeToLive: UpdateTimeToLive and DescribeTimeToLive, which the
// deployment uses on the lease table, with DynamoDB's refusals.
func TestTimeToLive(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	createLeases(t, c)
	describe := func() types.TimeToLiveDescription {
		t.Helper()
		out, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("leases")})
		if err != nil {
			t.Fatal(err)
		}
		return *out.TimeToLiveDescription
	}
	update := func(attr string, on bool) error {
		_, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String("leases"),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(on)}})
		return err
	}
	if got := describe(); got.TimeToLiveStatus != types.TimeToLiveStatusDisabled || got.AttributeName != nil {
		t.Errorf("new table: %+v, want DISABLED", got)
	}
	if err := update("expires", true); err != nil {
		t.Fatal(err)
	}
	if got := describe(); got.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(got.AttributeName) != "expires" {
		t.Errorf("after enabling: %+v, want ENABLED on expires", got)
	}
	for _, tc := range []struct {
		attr string
		on   bool
	}{{"expires", true}, {"other", true}} {
		if code := apiCode(update(tc.attr, tc.on)); code != "ValidationException" {
			t.Errorf("enable %s again: %s, want ValidationException", tc.attr, code)
		}
	}
	if err := update("expires", false); err != nil {
		t.Fatal(err)
	}
	if code := apiCode(update("expires", false)); code != "ValidationException" {
		t.Errorf("disable twice: %s, want ValidationException", code)
	}
	_, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String("missing"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("x"), Enabled: aws.Bool(true)}})
	if code := apiCode(err); code != "ResourceNotFoundException" {
		t.Errorf("missing table: %v, want ResourceNotFoundException", err)
	}
}

func apiCode(err error) string {
	var api smithy.APIError
	if err == nil {
		return ""
	}
	if !errors.As(err, &api) {
		return err.Error()
	}
	return api.ErrorCode()
}
