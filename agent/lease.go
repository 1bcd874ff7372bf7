package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// leaser coordinates agent replicas so that one failure yields one
// corrected revision and one service update, however many replicas see it.
type leaser interface {
	Acquire(ctx context.Context, rewriteID string) (*lease, error)
}

// lease is the right to heal one failure. Exactly one of done and the
// methods applies: done set means the failure was healed already.
type lease struct {
	// done is the finished heal's record when someone healed it already.
	done *doneRecord
	// Fresh is true when nobody held the lease before: no revision can
	// exist yet, so none is searched for.
	Fresh bool
	// Revision is the corrected revision a previous holder registered
	// before it stopped, if it recorded one.
	Revision string

	registered func(ctx context.Context, arn string) error
	finish     func(ctx context.Context, d *doneRecord) error
	release    func(ctx context.Context)
	renew      func(ctx context.Context) error // nil: the lease does not expire
	ttl        time.Duration
	finished   bool
}

// Keep renews the lease every third of its duration until stop is called,
// so that a lease can be short (a replica that dies loses it within one
// duration) however long the heal takes. The returned context ends when
// the lease is lost: another replica took it over, or no renewal got
// through before it expired. A lease that does not expire (one replica's)
// needs no renewal.
func (l *lease) Keep(ctx context.Context, log *slog.Logger) (context.Context, func()) {
	if l.renew == nil {
		return ctx, func() {}
	}
	kctx, lose := context.WithCancelCause(ctx)
	stopped := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(l.ttl / 3)
		defer t.Stop()
		renewed := time.Now()
		for {
			select {
			case <-stopped:
				return
			case <-kctx.Done():
				return
			case <-t.C:
			}
			err := l.renew(kctx)
			switch {
			case err == nil:
				renewed = time.Now()
			case errors.Is(err, errBusy):
				lose(err)
				return
			case kctx.Err() != nil:
				return
			case time.Since(renewed) >= l.ttl:
				lose(fmt.Errorf("%w (not renewed for %s: %v)", errLeaseLost, l.ttl, err))
				return
			default:
				log.Warn("renew lease failed; retrying", "error", err)
			}
		}
	}()
	return kctx, func() {
		close(stopped)
		<-done
		lose(nil)
	}
}

// errLeaseLost ends a heal whose lease another replica may now hold.
var errLeaseLost = errors.New("lease lost")

// Registered records the corrected revision, so that a holder that takes
// over after a crash reuses it.
func (l *lease) Registered(ctx context.Context, arn string) error { return l.registered(ctx, arn) }

// Finish marks the failure healed.
func (l *lease) Finish(ctx context.Context, d *doneRecord) error {
	if err := l.finish(ctx, d); err != nil {
		return err
	}
	l.finished = true
	return nil
}

// Release gives up an unfinished lease at once instead of letting it
// expire, so that a redelivery does not wait.
// A lease that came back done holds nothing to give up.
func (l *lease) Release(ctx context.Context) {
	if l.release != nil && !l.finished {
		l.release(ctx)
	}
}

// DynamoDBAPI lists the DynamoDB calls the lease table needs.
type DynamoDBAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// tableLeases keeps leases in a DynamoDB table with a string hash key "id".
// A conditional write elects one holder; a holder that dies loses the lease
// when it expires; a finished lease is kept for Retention so duplicates are
// recognised (set the table's TTL attribute to "purge_at" to clean up).
type tableLeases struct {
	db        DynamoDBAPI
	table     string
	holder    string
	ttl       time.Duration
	retention time.Duration
	now       func() time.Time
}

// newTableLeases returns leases in table, held by holder (unique per
// replica) for ttl at a time.
func newTableLeases(db DynamoDBAPI, table, holder string, ttl time.Duration, now func() time.Time) (*tableLeases, error) {
	switch {
	case db == nil || table == "":
		return nil, errors.New("lease table: a DynamoDB client and a table name are required")
	case holder == "":
		return nil, errors.New("lease table: a holder identity is required")
	case ttl < time.Second:
		return nil, fmt.Errorf("lease table: lease duration must be at least 1s, got %s", ttl)
	}
	if now == nil {
		now = time.Now
	}
	return &tableLeases{db: db, table: table, holder: holder, ttl: ttl, retention: 7 * 24 * time.Hour, now: now}, nil
}

// Attribute names are all substituted: DynamoDB reserves hundreds of words.
var leaseNames = map[string]string{"#id": "id", "#h": "holder", "#e": "expires_at", "#p": "phase", "#r": "revision", "#d": "done", "#t": "purge_at"}

func names(keys ...string) map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = leaseNames[k]
	}
	return m
}

func str(s string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: s} }
func num(n int64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func (t *tableLeases) key(id string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{"id": str(id)}
}

// Acquire takes the lease for rewriteID, or reports it done, or returns
// errBusy while another replica holds it.
func (t *tableLeases) Acquire(ctx context.Context, rewriteID string) (*lease, error) {
	now := t.now()
	out, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(t.table),
		Key:                      t.key(rewriteID),
		UpdateExpression:         aws.String("SET #h = :me, #e = :exp, #p = :pending, #t = :purge"),
		ConditionExpression:      aws.String("attribute_not_exists(#id) OR (#e < :now AND #p <> :done)"),
		ExpressionAttributeNames: names("#id", "#h", "#e", "#p", "#t"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":me": str(t.holder), ":exp": num(now.Add(t.ttl).UnixMilli()), ":pending": str("pending"),
			":purge": num(now.Add(t.retention).Unix()), ":now": num(now.UnixMilli()), ":done": str("done"),
		},
		ReturnValues: ddbtypes.ReturnValueAllOld,
	})
	if isConditionFailed(err) {
		return t.held(ctx, rewriteID)
	}
	if err != nil {
		return nil, fmt.Errorf("acquire lease %s: %w", rewriteID, err)
	}
	l := &lease{Fresh: len(out.Attributes) == 0}
	if r, ok := out.Attributes["revision"].(*ddbtypes.AttributeValueMemberS); ok {
		l.Revision = r.Value
	}
	mine := ":me"
	l.registered = func(ctx context.Context, arn string) error {
		return t.update(ctx, rewriteID, "SET #r = :rev", "#h = "+mine, names("#r", "#h"),
			map[string]ddbtypes.AttributeValue{":rev": str(arn), mine: str(t.holder)})
	}
	l.finish = func(ctx context.Context, d *doneRecord) error {
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return t.update(ctx, rewriteID, "SET #p = :done, #d = :rec", "#h = "+mine, names("#p", "#d", "#h"),
			map[string]ddbtypes.AttributeValue{":done": str("done"), ":rec": str(string(b)), mine: str(t.holder)})
	}
	l.ttl = t.ttl
	l.renew = func(ctx context.Context) error {
		return t.update(ctx, rewriteID, "SET #e = :exp", "#h = "+mine+" AND #p <> :done", names("#e", "#h", "#p"),
			map[string]ddbtypes.AttributeValue{":exp": num(t.now().Add(t.ttl).UnixMilli()), mine: str(t.holder), ":done": str("done")})
	}
	l.release = func(ctx context.Context) {
		// Best effort: if it fails the lease simply expires.
		_ = t.update(ctx, rewriteID, "SET #e = :zero", "#h = "+mine+" AND #p <> :done", names("#e", "#h", "#p"),
			map[string]ddbtypes.AttributeValue{":zero": num(0), mine: str(t.holder), ":done": str("done")})
	}
	return l, nil
}

func (t *tableLeases) update(ctx context.Context, id, update, cond string, n map[string]string, v map[string]ddbtypes.AttributeValue) error {
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(t.table), Key: t.key(id), UpdateExpression: aws.String(update),
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: n, ExpressionAttributeValues: v,
	})
	if isConditionFailed(err) {
		return fmt.Errorf("lease %s: %w (lost to another replica)", id, errBusy)
	}
	if err != nil {
		return fmt.Errorf("lease %s: %w", id, err)
	}
	return nil
}

// held reads a lease someone else has: done, or busy.
func (t *tableLeases) held(ctx context.Context, id string) (*lease, error) {
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.table), Key: t.key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read lease %s: %w", id, err)
	}
	if p, ok := out.Item["phase"].(*ddbtypes.AttributeValueMemberS); ok && p.Value == "done" {
		d := &doneRecord{}
		if rec, ok := out.Item["done"].(*ddbtypes.AttributeValueMemberS); ok {
			if err := json.Unmarshal([]byte(rec.Value), d); err != nil {
				return nil, fmt.Errorf("read lease %s: %w", id, err)
			}
		}
		return &lease{done: d}, nil
	}
	busy := &busyError{id: id}
	if e, ok := out.Item["expires_at"].(*ddbtypes.AttributeValueMemberN); ok {
		if ms, err := strconv.ParseInt(e.Value, 10, 64); err == nil {
			busy.until = time.UnixMilli(ms)
		}
	}
	return nil, busy
}

// busyError says another replica holds the lease, until when at the
// latest unless it renews it.
type busyError struct {
	id    string
	until time.Time // zero: unknown
}

func (e *busyError) Error() string        { return fmt.Sprintf("lease %s: %v", e.id, errBusy) }
func (e *busyError) Is(target error) bool { return target == errBusy }

// Waiting for a lease another replica holds.
const (
	// busyPoll is how often the lease is read again: a holder that
	// finishes is noticed within it.
	busyPoll = time.Second
	// maxBusyWait bounds the wait for a holder that keeps its lease
	// alive; the message then goes back to the queue with a backoff.
	maxBusyWait = 10 * time.Minute
)

// hold takes the lease for id (acquire) and keeps it renewed while the
// returned context is used: the context ends if the lease is lost (this
// replica stalled past its expiry and another took it over). release stops
// the renewals and gives back a lease that was not finished; it must be
// called. A lease that comes back done holds nothing.
func (h *Healer) hold(ctx context.Context, id string, log *slog.Logger) (ls *lease, hctx context.Context, release func(), err error) {
	ls, err = h.acquire(ctx, id, log)
	if err != nil {
		return nil, ctx, func() {}, err
	}
	if ls.done != nil {
		return ls, ctx, func() {}, nil
	}
	hctx, stopKeeping := ls.Keep(ctx, log)
	return ls, hctx, func() {
		stopKeeping()
		// Releasing must happen even when the heal's context ended, but
		// not hang a worker on a table that does not answer.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		ls.Release(rctx)
	}, nil
}

// acquire takes the lease for id, waiting while another replica holds
// it: until the holder finishes (the lease comes back done) or stops
// renewing (its lease expires and this replica takes over). Waiting
// in-process, the message stays in flight (its visibility is extended as
// for any heal), so a busy lease spends none of the message's receives
// and never sends it towards the dead-letter queue.
func (h *Healer) acquire(ctx context.Context, id string, log *slog.Logger) (*lease, error) {
	start := time.Now()
	logged := false
	for {
		ls, err := h.leases.Acquire(ctx, id)
		var busy *busyError
		if err == nil || !errors.As(err, &busy) || time.Since(start) >= maxBusyWait {
			return ls, err
		}
		if !logged {
			log.Info("another replica holds the lease; waiting for it", "rewrite_id", id)
			logged = true
		}
		wait := busyPoll
		if !busy.until.IsZero() {
			// Try again just after it can expire, if that is sooner.
			wait = min(wait, max(time.Until(busy.until)+50*time.Millisecond, 50*time.Millisecond))
		}
		if !sleep(ctx, wait) {
			return nil, fmt.Errorf("wait for lease %s: %w", id, ctx.Err())
		}
	}
}

// localLeases coordinates the heals of one agent process. It is for a
// single replica: several replicas need tableLeases. It cannot know what
// happened before a restart, so its leases are never Fresh and the healer
// looks for an existing corrected revision before registering. That search
// is also why finished leases need not be kept for ever: a duplicate that
// arrives after its record was dropped finds the revision and registers
// none.
type localLeases struct {
	mu   sync.Mutex
	held map[string]bool
	done *recent[*doneRecord]
}

// Bounds of the finished leases a single replica remembers.
const (
	localDoneMax       = 4096
	localDoneRetention = time.Hour
)

// newLocalLeases returns in-process leases.
func newLocalLeases(now func() time.Time) *localLeases {
	if now == nil {
		now = time.Now
	}
	return &localLeases{held: map[string]bool{}, done: newRecent[*doneRecord](localDoneMax, localDoneRetention, now)}
}

// Acquire takes the lease for rewriteID in this process.
func (l *localLeases) Acquire(_ context.Context, id string) (*lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d, ok := l.done.get(id); ok {
		return &lease{done: d}, nil
	}
	if l.held[id] {
		return nil, &busyError{id: id}
	}
	l.held[id] = true
	return &lease{
		registered: func(context.Context, string) error { return nil },
		finish: func(_ context.Context, d *doneRecord) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.done.put(id, d)
			delete(l.held, id)
			return nil
		},
		release: func(context.Context) {
			l.mu.Lock()
			defer l.mu.Unlock()
			delete(l.held, id)
		},
	}, nil
}
