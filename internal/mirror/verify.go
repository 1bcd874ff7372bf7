package mirror

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// verifier passes a blob through while hashing it, and refuses to hand over
// the bytes that complete it unless they complete the promised digest. A
// mismatch therefore never reaches the destination as a whole blob: the
// upload request fails short of its Content-Length, and the registry
// commits nothing.
//
// net/http may still be reading a request body after RoundTrip returned (a
// registry that answered before it read everything). close freezes the
// verdict without waiting for such a read; whatever that read returns is
// dropped.
type verifier struct {
	readMu sync.Mutex // one Read at a time; held across the source read
	h      hash.Hash  // guarded by readMu
	r      io.Reader
	want   v1.Hash
	size   int64
	onRead func(int64)

	mu     sync.Mutex // guards the verdict below
	closed bool
	n      int64
	err    error
}

var errVerifierClosed = errors.New("blob stream closed")

func newVerifier(r io.Reader, d v1.Descriptor, onRead func(int64)) (*verifier, error) {
	var h hash.Hash
	switch d.Digest.Algorithm {
	case "sha256":
		h = sha256.New()
	case "sha512":
		h = sha512.New()
	default:
		return nil, fmt.Errorf("blob %s: unsupported digest algorithm %q", d.Digest, d.Digest.Algorithm)
	}
	if d.Size < 0 {
		return nil, fmt.Errorf("blob %s: negative size %d", d.Digest, d.Size)
	}
	return &verifier{r: r, h: h, want: d.Digest, size: d.Size, onRead: onRead}, nil
}

func (v *verifier) Read(p []byte) (int, error) {
	v.readMu.Lock()
	defer v.readMu.Unlock()
	v.mu.Lock()
	closed, n, err := v.closed, v.n, v.err
	v.mu.Unlock()
	switch {
	case closed:
		return 0, errVerifierClosed
	case err != nil:
		return 0, err
	case n == v.size:
		return 0, v.atEnd()
	}
	if rest := v.size - n; int64(len(p)) > rest {
		p = p[:rest]
	}
	k, rerr := v.r.Read(p)
	v.h.Write(p[:k])
	n += int64(k)
	switch {
	case n == v.size:
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			// Withhold these bytes: they would complete a wrong blob.
			return 0, v.fail(fmt.Errorf("%w: blob %s hashes to %s:%s", ErrDigestMismatch, v.want, v.want.Algorithm, got))
		}
	case rerr == io.EOF:
		return 0, v.fail(fmt.Errorf("%w: blob %s ended after %d of %d bytes", io.ErrUnexpectedEOF, v.want, n, v.size))
	case rerr != nil:
		return 0, v.fail(fmt.Errorf("read blob %s: %w", v.want, rerr))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return 0, errVerifierClosed
	}
	v.n = n
	if v.onRead != nil && k > 0 {
		v.onRead(int64(k))
	}
	return k, nil
}

// atEnd runs once every promised byte has passed: an empty blob is checked
// here, and anything beyond the promised size is an error.
func (v *verifier) atEnd() error {
	if v.size == 0 {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			return v.fail(fmt.Errorf("%w: blob %s hashes to %s:%s", ErrDigestMismatch, v.want, v.want.Algorithm, got))
		}
	}
	var one [1]byte
	k, err := io.ReadFull(v.r, one[:])
	switch {
	case k > 0:
		return v.fail(fmt.Errorf("%w: blob %s is longer than %d bytes", ErrDigestMismatch, v.want, v.size))
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return io.EOF
	default:
		return v.fail(fmt.Errorf("read blob %s: %w", v.want, err))
	}
}

// fail records the error that ends the stream.
func (v *verifier) fail(err error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return errVerifierClosed
	}
	v.err = err
	return err
}

// close stops the stream and returns the verdict: how many bytes passed,
// the error that stopped it, if any, and whether every promised byte was
// passed and matched. It does not wait for a read in flight.
func (v *verifier) close() (n int64, err error, verified bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = true
	return v.n, v.err, v.err == nil && v.n == v.size
}
