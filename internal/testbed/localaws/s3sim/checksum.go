package s3sim

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"net/http"
	"strings"
)

// checksumHeaders are S3's flexible checksum headers, by algorithm name.
var checksumHeaders = map[string]string{
	"CRC32":     "X-Amz-Checksum-Crc32",
	"CRC32C":    "X-Amz-Checksum-Crc32c",
	"SHA1":      "X-Amz-Checksum-Sha1",
	"SHA256":    "X-Amz-Checksum-Sha256",
	"CRC64NVME": "X-Amz-Checksum-Crc64nvme",
}

// checksum computes an algorithm's value as S3 sends it (base64 of the
// big-endian digest); ok is false for an algorithm not computed here.
func checksum(alg string, data []byte) (string, bool) {
	var sum []byte
	switch alg {
	case "CRC32":
		sum = binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	case "CRC32C":
		sum = binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	case "SHA1":
		s := sha1.Sum(data)
		sum = s[:]
	case "SHA256":
		s := sha256.Sum256(data)
		sum = s[:]
	default:
		return "", false
	}
	return base64.StdEncoding.EncodeToString(sum), true
}

// objectChecksum is the checksum a PutObject carries (a header, or an
// aws-chunked trailer), checked against the data. Without one, S3 computes
// its own default; this stand-in computes CRC32 (S3 itself uses
// CRC64NVME, which is not in Go's library).
func objectChecksum(h http.Header, trailers map[string]string, data []byte) (alg, value string, err *apiError) {
	for name, header := range checksumHeaders {
		v := h.Get(header)
		if v == "" {
			v = trailers[strings.ToLower(header)]
		}
		if v == "" {
			continue
		}
		if want, ok := checksum(name, data); ok && want != v {
			return "", "", &apiError{Status: http.StatusBadRequest, Code: "BadDigest",
				Message: "The " + name + " you specified did not match the calculated checksum."}
		}
		return name, v, nil
	}
	v, _ := checksum("CRC32", data)
	return "CRC32", v, nil
}
