// Package conformance checks the local test bed (internal/testbed/localaws)
// against moto, an AWS emulator maintained by others: the same
// aws-sdk-go-v2 calls go to both, and their responses are compared field by
// field. Where they differ, AWS's documentation decides; a difference the
// test bed keeps on purpose is listed, with the page that says so, in
// testdata/allowlist.json. The package has only tests; docs/conformance.md
// says how to read and extend them.
package conformance
