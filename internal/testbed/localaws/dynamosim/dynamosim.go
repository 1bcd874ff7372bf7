// Package dynamosim is a local stand-in for the Amazon DynamoDB operations
// pullheal uses to coordinate agent replicas (a lease item per rewrite,
// taken with a conditional write): tables with a hash (and optional range)
// key, PutItem, GetItem, UpdateItem and DeleteItem with condition and update
// expressions, and the time-to-live setting the lease table relies on, on
// the JSON 1.0 wire protocol the SDK speaks.
//
// CreateTable answers CREATING, as DynamoDB does; the simulated creation
// completes as soon as that response is sent, so every later request finds
// the table ACTIVE (callers that wait with DescribeTable or the SDK's
// waiter see it at once). A time-to-live setting takes effect at once
// (ENABLED, not ENABLING); like DynamoDB, which deletes expired items only
// "within a few days", the stand-in never deletes them itself.
package dynamosim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

// Config configures the stand-in.
type Config struct {
	Account, Region string
	Clock           wire.Clock
}

// DynamoDB holds the tables. It is safe for concurrent use; each write is
// atomic, which is what conditional writes rely on.
type DynamoDB struct {
	cfg    Config
	mu     sync.Mutex
	tables map[string]*table
}

type keyElement struct {
	AttributeName string `json:"AttributeName"`
	KeyType       string `json:"KeyType"`
}

type attrDef struct {
	AttributeName string `json:"AttributeName"`
	AttributeType string `json:"AttributeType"`
}

type table struct {
	Name        string                     `json:"name"`
	KeySchema   []keyElement               `json:"keySchema"`
	AttrDefs    []attrDef                  `json:"attributeDefinitions"`
	BillingMode string                     `json:"billingMode"`
	Created     float64                    `json:"created"`
	Items       map[string]map[string]attr `json:"items"`
	// Throughput is the provisioned capacity (zero for PAY_PER_REQUEST).
	Throughput *throughput `json:"throughput,omitempty"`
	// TTL is the time-to-live attribute, when enabled.
	TTL string `json:"ttl,omitempty"`
}

type throughput struct {
	ReadCapacityUnits  int64 `json:"ReadCapacityUnits"`
	WriteCapacityUnits int64 `json:"WriteCapacityUnits"`
}

// New returns an empty DynamoDB.
func New(cfg Config) *DynamoDB {
	wire.FillDefaults(&cfg.Account, &cfg.Region, &cfg.Clock)
	return &DynamoDB{cfg: cfg, tables: map[string]*table{}}
}

// Service returns the operations for mounting on a wire.Mux.
func (d *DynamoDB) Service() wire.Service {
	return wire.Service{TargetPrefix: "DynamoDB_20120810", JSONVersion: "1.0", CRC32: true, Ops: map[string]wire.Op{
		"CreateTable":        d.createTable,
		"DescribeTable":      d.describeTable,
		"DeleteTable":        d.deleteTable,
		"ListTables":         d.listTables,
		"UpdateTimeToLive":   d.updateTimeToLive,
		"DescribeTimeToLive": d.describeTimeToLive,
		"PutItem":            d.putItem,
		"GetItem":            d.getItem,
		"UpdateItem":         d.updateItem,
		"DeleteItem":         d.deleteItem,
	}}
}

func validation(format string, args ...any) *wire.Error {
	return wire.Errorf(http.StatusBadRequest, "ValidationException", format, args...)
}

func notFound(name string) *wire.Error {
	return wire.Errorf(http.StatusBadRequest, "ResourceNotFoundException", "Requested resource not found: Table: %s not found", name)
}

func conditionFailed() *wire.Error {
	return wire.Errorf(http.StatusBadRequest, "ConditionalCheckFailedException", "The conditional request failed")
}

func (d *DynamoDB) arn(name string) string {
	return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", d.cfg.Region, d.cfg.Account, name)
}

func (d *DynamoDB) describe(t *table) map[string]any {
	// An on-demand table reports zero provisioned capacity, and the warm
	// throughput DynamoDB gives every new on-demand table.
	tp := map[string]any{"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
	if t.Throughput != nil {
		tp["ReadCapacityUnits"], tp["WriteCapacityUnits"] = t.Throughput.ReadCapacityUnits, t.Throughput.WriteCapacityUnits
	}
	out := map[string]any{
		"TableName":                 t.Name,
		"TableArn":                  d.arn(t.Name),
		"TableStatus":               "ACTIVE",
		"KeySchema":                 t.KeySchema,
		"AttributeDefinitions":      t.AttrDefs,
		"CreationDateTime":          t.Created,
		"ItemCount":                 len(t.Items),
		"TableSizeBytes":            0,
		"DeletionProtectionEnabled": false,
		"ProvisionedThroughput":     tp,
		"BillingModeSummary":        map[string]any{"BillingMode": t.BillingMode},
	}
	if t.BillingMode == "PAY_PER_REQUEST" {
		out["WarmThroughput"] = map[string]any{"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000, "Status": "ACTIVE"}
	}
	return out
}

func (d *DynamoDB) createTable(_ context.Context, body []byte) (any, error) {
	var in struct {
		TableName             string
		KeySchema             []keyElement
		AttributeDefinitions  []attrDef
		BillingMode           string
		ProvisionedThroughput *throughput
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.TableName) < 3 || len(in.TableName) > 255 {
		return nil, validation("TableName must be between 3 and 255 characters long")
	}
	hashes := 0
	for _, k := range in.KeySchema {
		if k.KeyType == "HASH" {
			hashes++
		}
		if !defined(in.AttributeDefinitions, k.AttributeName) {
			return nil, validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s]", k.AttributeName)
		}
	}
	if hashes != 1 || len(in.KeySchema) > 2 {
		return nil, validation("One or more parameter values were invalid: the key schema needs exactly one HASH key and at most one RANGE key")
	}
	if in.BillingMode == "" {
		in.BillingMode = "PROVISIONED"
	}
	switch {
	case in.BillingMode != "PROVISIONED" && in.BillingMode != "PAY_PER_REQUEST":
		return nil, validation("1 validation error detected: Value '%s' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]", in.BillingMode)
	case in.BillingMode == "PAY_PER_REQUEST" && in.ProvisionedThroughput != nil:
		return nil, validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
	case in.BillingMode == "PROVISIONED" && (in.ProvisionedThroughput == nil || in.ProvisionedThroughput.ReadCapacityUnits < 1 || in.ProvisionedThroughput.WriteCapacityUnits < 1):
		return nil, validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.tables[in.TableName]; ok {
		return nil, wire.Errorf(http.StatusBadRequest, "ResourceInUseException", "Table already exists: %s", in.TableName)
	}
	t := &table{Name: in.TableName, KeySchema: in.KeySchema, AttrDefs: in.AttributeDefinitions, BillingMode: in.BillingMode,
		Created: wire.Epoch(d.cfg.Clock.Now()), Items: map[string]map[string]attr{}, Throughput: in.ProvisionedThroughput}
	d.tables[in.TableName] = t
	desc := d.describe(t)
	desc["TableStatus"] = "CREATING"
	return map[string]any{"TableDescription": desc}, nil
}

func (d *DynamoDB) updateTimeToLive(_ context.Context, body []byte) (any, error) {
	var in struct {
		TableName               string
		TimeToLiveSpecification *struct {
			AttributeName string
			Enabled       *bool
		}
	}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	spec := in.TimeToLiveSpecification
	switch {
	case spec == nil:
		return nil, validation("1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null")
	case spec.Enabled == nil:
		return nil, validation("1 validation error detected: Value null at 'timeToLiveSpecification.enabled' failed to satisfy constraint: Member must not be null")
	case len(spec.AttributeName) < 1 || len(spec.AttributeName) > 255:
		return nil, validation("1 validation error detected: Value '%s' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member must have length between 1 and 255", spec.AttributeName)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tables[in.TableName]
	if !ok {
		return nil, notFound(in.TableName)
	}
	switch {
	case *spec.Enabled && t.TTL != "" && t.TTL != spec.AttributeName:
		return nil, validation("TimeToLive is active on a different AttributeName: current AttributeName is %s", t.TTL)
	case *spec.Enabled && t.TTL != "":
		return nil, validation("TimeToLive is already enabled")
	case !*spec.Enabled && t.TTL == "":
		return nil, validation("TimeToLive is already disabled")
	case *spec.Enabled:
		t.TTL = spec.AttributeName
	default:
		t.TTL = ""
	}
	return map[string]any{"TimeToLiveSpecification": map[string]any{"AttributeName": spec.AttributeName, "Enabled": *spec.Enabled}}, nil
}

func (d *DynamoDB) describeTimeToLive(_ context.Context, body []byte) (any, error) {
	var in struct{ TableName string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tables[in.TableName]
	if !ok {
		return nil, notFound(in.TableName)
	}
	if t.TTL == "" {
		return map[string]any{"TimeToLiveDescription": map[string]any{"TimeToLiveStatus": "DISABLED"}}, nil
	}
	return map[string]any{"TimeToLiveDescription": map[string]any{"TimeToLiveStatus": "ENABLED", "AttributeName": t.TTL}}, nil
}

func defined(defs []attrDef, name string) bool {
	for _, d := range defs {
		if d.AttributeName == name {
			return true
		}
	}
	return false
}

func (d *DynamoDB) describeTable(_ context.Context, body []byte) (any, error) {
	var in struct{ TableName string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tables[in.TableName]
	if !ok {
		return nil, notFound(in.TableName)
	}
	return map[string]any{"Table": d.describe(t)}, nil
}

func (d *DynamoDB) deleteTable(_ context.Context, body []byte) (any, error) {
	var in struct{ TableName string }
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tables[in.TableName]
	if !ok {
		return nil, notFound(in.TableName)
	}
	delete(d.tables, in.TableName)
	desc := d.describe(t)
	desc["TableStatus"] = "DELETING"
	return map[string]any{"TableDescription": desc}, nil
}

func (d *DynamoDB) listTables(_ context.Context, body []byte) (any, error) {
	var in struct{}
	if err := wire.Decode(body, &in); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.tables))
	for n := range d.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return map[string]any{"TableNames": names}, nil
}

// request is the union of the item operations' inputs.
type request struct {
	TableName                 string
	Key                       map[string]attr
	Item                      map[string]attr
	ConditionExpression       string
	UpdateExpression          string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues map[string]attr
	ReturnValues              string
}

// keyOf validates the key attributes against the table's schema and
// returns the item's storage key.
func (t *table) keyOf(attrs map[string]attr, exact bool) (string, error) {
	if exact && len(attrs) != len(t.KeySchema) {
		return "", validation("The provided key element does not match the schema")
	}
	parts := make([]string, 0, len(t.KeySchema))
	for _, k := range t.KeySchema {
		v, ok := attrs[k.AttributeName]
		if !ok {
			return "", validation("One or more parameter values were invalid: Missing the key %s in the item", k.AttributeName)
		}
		for _, def := range t.AttrDefs {
			if def.AttributeName == k.AttributeName && def.AttributeType != v.typ {
				return "", validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", k.AttributeName, def.AttributeType, v.typ)
			}
		}
		parts = append(parts, v.typ+":"+v.s)
	}
	b, _ := json.Marshal(parts)
	return string(b), nil
}

// prepare decodes an item request and finds its table and key; the caller
// holds d.mu.
func (d *DynamoDB) prepare(body []byte, useItem bool) (*request, *table, string, *env, error) {
	var in request
	if err := wire.Decode(body, &in); err != nil {
		return nil, nil, "", nil, err
	}
	t, ok := d.tables[in.TableName]
	if !ok {
		return nil, nil, "", nil, notFound(in.TableName)
	}
	keyAttrs := in.Key
	if useItem {
		keyAttrs = in.Item
	}
	key, err := t.keyOf(keyAttrs, !useItem)
	if err != nil {
		return nil, nil, "", nil, err
	}
	e := &env{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues, used: map[string]bool{}}
	return &in, t, key, e, nil
}

// checkCondition evaluates the request's condition, if any, against the
// current item.
func checkCondition(in *request, e *env, current map[string]attr) error {
	if in.ConditionExpression == "" {
		return nil
	}
	ok, err := evalCondition(in.ConditionExpression, e, current)
	if err != nil {
		return validation("Invalid ConditionExpression: %v", err)
	}
	if !ok {
		return conditionFailed()
	}
	return nil
}

// unused refuses names and values that the expressions did not use, as
// DynamoDB does: a typo there would otherwise pass silently.
func unused(in *request, e *env) error {
	for k := range in.ExpressionAttributeNames {
		if !e.used[k] {
			return validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", k)
		}
	}
	for k := range in.ExpressionAttributeValues {
		if !e.used[k] {
			return validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", k)
		}
	}
	return nil
}

func returned(mode string, old, updated map[string]attr) map[string]any {
	switch mode {
	case "ALL_OLD":
		if old != nil {
			return map[string]any{"Attributes": old}
		}
	case "ALL_NEW":
		if updated != nil {
			return map[string]any{"Attributes": updated}
		}
	}
	return map[string]any{}
}

func (d *DynamoDB) putItem(_ context.Context, body []byte) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, t, key, e, err := d.prepare(body, true)
	if err != nil {
		return nil, err
	}
	old := t.Items[key]
	if err := checkCondition(in, e, old); err != nil {
		return nil, err
	}
	if err := unused(in, e); err != nil {
		return nil, err
	}
	t.Items[key] = in.Item
	return returned(in.ReturnValues, old, nil), nil
}

func (d *DynamoDB) getItem(_ context.Context, body []byte) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, t, key, _, err := d.prepare(body, false)
	if err != nil {
		return nil, err
	}
	item, ok := t.Items[key]
	if !ok {
		return map[string]any{}, nil
	}
	return map[string]any{"Item": item}, nil
}

func (d *DynamoDB) updateItem(_ context.Context, body []byte) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, t, key, e, err := d.prepare(body, false)
	if err != nil {
		return nil, err
	}
	old := t.Items[key]
	if err := checkCondition(in, e, old); err != nil {
		return nil, err
	}
	updated := make(map[string]attr, len(old)+len(in.Key))
	for k, v := range old {
		updated[k] = v
	}
	for k, v := range in.Key {
		updated[k] = v
	}
	if in.UpdateExpression != "" {
		if err := applyUpdate(in.UpdateExpression, e, updated); err != nil {
			return nil, validation("Invalid UpdateExpression: %v", err)
		}
	}
	for _, k := range t.KeySchema {
		if n := updated[k.AttributeName]; n.typ != in.Key[k.AttributeName].typ || n.s != in.Key[k.AttributeName].s {
			return nil, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", k.AttributeName)
		}
	}
	if err := unused(in, e); err != nil {
		return nil, err
	}
	t.Items[key] = updated
	return returned(in.ReturnValues, old, updated), nil
}

func (d *DynamoDB) deleteItem(_ context.Context, body []byte) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, t, key, e, err := d.prepare(body, false)
	if err != nil {
		return nil, err
	}
	old := t.Items[key]
	if err := checkCondition(in, e, old); err != nil {
		return nil, err
	}
	if err := unused(in, e); err != nil {
		return nil, err
	}
	delete(t.Items, key)
	return returned(in.ReturnValues, old, nil), nil
}

// Snapshot writes every table as JSON, for `pullheal local --state`.
func (d *DynamoDB) Snapshot(w io.Writer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return json.NewEncoder(w).Encode(d.tables)
}

// Restore replaces every table with a snapshot's.
func (d *DynamoDB) Restore(r io.Reader) error {
	tables := map[string]*table{}
	if err := json.NewDecoder(r).Decode(&tables); err != nil {
		return fmt.Errorf("restore dynamodb state: %w", err)
	}
	for _, t := range tables {
		if t.Items == nil {
			t.Items = map[string]map[string]attr{}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tables = tables
	return nil
}
