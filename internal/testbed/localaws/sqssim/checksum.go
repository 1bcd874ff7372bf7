package sqssim

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"
	"strings"
)

// Transport type bytes of the message-attribute digest.
const (
	transportString = 1
	transportBinary = 2
)

// attributesMD5 computes MD5OfMessageAttributes as SQS does: attributes in
// ascending name order, each as length-prefixed (4-byte big-endian) name and
// data type, a transport byte (1 string/number, 2 binary) and the
// length-prefixed value.
func attributesMD5(attrs map[string]attrValue) string {
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	h := md5.New()
	for _, name := range names {
		a := attrs[name]
		writeField(h, []byte(name))
		writeField(h, []byte(a.DataType))
		if strings.HasPrefix(a.DataType, "Binary") {
			h.Write([]byte{transportBinary})
			writeField(h, a.BinaryValue)
			continue
		}
		h.Write([]byte{transportString})
		var v string
		if a.StringValue != nil {
			v = *a.StringValue
		}
		writeField(h, []byte(v))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeField(h hash.Hash, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
}
