// Package ecrsim is the local test bed's Amazon ECR: the ECR API (JSON 1.1,
// target prefix AmazonEC2ContainerRegistry_V20150921) for the real
// aws-sdk-go-v2 client, and the registry itself (the OCI distribution API)
// with ECR's authentication, repository rules, tag immutability, blob
// mounting and pull-through cache.
//
// The API is mounted with the other stand-ins through Service; the registry
// is its own http.Handler (Registry), served on its own loopback port. The
// registry's base URL names it in GetAuthorizationToken's proxyEndpoint and
// in every repositoryUri (HOST/REPO), so it is given in Config.RegistryURL
// or, once the listener exists, with SetRegistryURL.
//
// # Registry behaviour
//
//   - Every /v2/ request needs HTTP Basic credentials: user AWS and the
//     password of a GetAuthorizationToken token (base64 "AWS:PASSWORD").
//     Without them the registry answers 401 with
//     `WWW-Authenticate: Basic realm="...",service="ecr.amazonaws.com"` as
//     ECR does; an expired token (12 h on the clock) gets 403 DENIED.
//   - Pushes go only into existing repositories, otherwise 404 NAME_UNKNOWN
//     with ECR's message; a repository creation template that applies to
//     CREATE_ON_PUSH creates the repository on the first push instead.
//   - In an IMMUTABLE repository (and for the tags the exclusion filters make
//     immutable) an existing tag cannot move to another digest: 400
//     TAG_INVALID with ECR's message. Pushing the same digest again is fine.
//   - `POST /v2/REPO/blobs/uploads/?mount=DIGEST&from=OTHER` mounts the blob
//     (201) when the BLOB_MOUNTING account setting is ENABLED, OTHER has the
//     blob, both repositories use the same encryption, and OTHER was not
//     created by the pull-through cache; otherwise it opens a normal upload
//     session (202) and the client uploads.
//   - Blobs belong to repositories: a blob is served from a repository only
//     after it was pushed, mounted or cached there. Storage is shared and
//     content-addressed; deleting a repository does not free it.
//   - The catalog endpoint is not offered (ECR does not either).
//
// # Pull-through cache
//
// A manifest request for a repository under a rule's ecrRepositoryPrefix
// (PREFIX/PATH) that cannot be answered from the cache is fetched from the
// rule's upstream (PATH, below upstreamRepositoryPrefix when set) with
// go-containerregistry's remote client, using the rule's Secrets Manager
// credentials ({"username":..,"accessToken":..}) when it has a
// credentialArn. Nothing beyond loopback is reachable, so Config.Upstreams
// maps upstream hosts (registry-1.docker.io, and the token realm's host,
// auth.docker.io, for a stand-in with Docker Hub's token flow) to loopback
// base URLs; requests keep the real host name in the reference and the
// Host header and are redirected at the transport. A stand-in's token
// realm must name such a host over https (https://auth.docker.io/token):
// go-containerregistry refuses realms on IP literals and plain-http realms
// of https registries. Schema 1 manifests are not imported.
//
//   - The first request for a tag (GET or HEAD: containerd resolves with
//     HEAD) imports it: the repository is created if needed (applying a
//     PULL_THROUGH_CACHE creation template), the manifest is stored and, for
//     an image manifest, its config and layers are copied at once so that
//     the following blob requests are served locally.
//   - An index is cached alone. Each child manifest is fetched on demand,
//     when it is asked for by digest, because a digest referenced by a
//     cached index is known; fetching every platform up front would spend an
//     upstream pull (Docker Hub counts manifest GETs) per platform nobody
//     runs.
//   - A first pull by digest of anything else is refused (404
//     MANIFEST_UNKNOWN), as ECR does not support it; cached digests are
//     served.
//   - A cached tag is compared with upstream at most once per 24 h on the
//     clock: a HEAD (free on Docker Hub), and a GET only when the digest
//     changed. When the upstream cannot answer the check, the cached image is
//     served.
//   - An upstream 429 reaches the puller as HTTP 429 TOOMANYREQUESTS whose
//     message names the upstream rate limit and carries the upstream's own
//     message; the upstream's Retry-After header is kept. Rejected upstream
//     credentials give 403 DENIED, other upstream failures 503 UNAVAILABLE.
//   - Concurrent requests for the same missing tag share one upstream fetch.
//
// BatchGetImage imports through the cache the same way, as ECR's does, and
// reports upstream trouble per image with the failure codes
// UpstreamTooManyRequests, UpstreamAccessDenied and UpstreamUnavailable.
//
// # API decisions
//
//   - Lifecycle policies are validated (JSON with a non-empty "rules" array)
//     and stored, never evaluated: no image expires.
//   - imageSizeInBytes of an image is the sum of the sizes of the blobs its
//     manifest references (config and layers); of an index, the largest of
//     its children present in the repository.
//   - Child manifests of an index are images of their own (untagged), as in
//     ECR's DescribeImages.
//   - Upstream registry type "ecr" (ECR-to-ECR rules with customRoleArn) is
//     refused with UnsupportedUpstreamRegistryException: the test bed has no
//     IAM to assume the role with.
//
// # State
//
// With Config.StateDir set, repositories, images, tags, rules, templates,
// settings and the token signing key are written to StateDir/ecr.json after
// every change, and blobs and manifests live under StateDir/ecr-blobs
// (content-addressed, sha256/HEX), so a restarted test bed serves what it
// held and tokens it issued stay valid. Upload sessions in progress do not
// survive a restart. Without StateDir everything is in memory.
package ecrsim
