// Package ec2sim is the local test bed's EC2, as far as pullheal needs it:
// instances launched with RunInstances and read back with
// DescribeInstances, each with the IAM instance profile it was launched
// with. An EC2 task without an execution role pulls from ECR with its
// container instance's role, which is the role of that instance's
// profile; pullheal finds it through DescribeInstances.
//
// It speaks EC2's query protocol as the aws-sdk-go-v2 EC2 client does: a
// POST form with Action and Version=2016-11-15, XML responses in EC2's
// namespace, and errors as <Response><Errors><Error>. Instances start in
// state running and stay there; there is no networking, no AMI catalogue
// (any ImageId is accepted) and no filters other than instance IDs.
package ec2sim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pullheal/pullheal/internal/testbed/localaws/wire"
)

const (
	apiVersion = "2016-11-15"
	xmlns      = "http://ec2.amazonaws.com/doc/2016-11-15/"
	// maxCount bounds one RunInstances: a stand-in has no capacity to
	// model, only memory to protect.
	maxCount = 100
)

// instanceID is EC2's format: i- and 8 or 17 hexadecimal digits.
var instanceID = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)

// EC2 is the stand-in; safe for concurrent use.
type EC2 struct {
	account, region string
	clock           wire.Clock

	mu        sync.Mutex
	instances map[string]*Instance
	order     []string // launch order, for stable listings
}

// Instance is one launched instance.
type Instance struct {
	ID            string    `json:"id"`
	ReservationID string    `json:"reservationId"`
	ImageID       string    `json:"imageId"`
	InstanceType  string    `json:"instanceType"`
	LaunchIndex   int       `json:"launchIndex"`
	Launched      time.Time `json:"launched"`
	// ProfileArn is the IAM instance profile's ARN; "" for none.
	ProfileArn string `json:"profileArn,omitempty"`
	ProfileID  string `json:"profileId,omitempty"`
}

// Config configures New.
type Config struct {
	Account, Region string
	Clock           wire.Clock
}

// New returns an EC2 stand-in.
func New(cfg Config) *EC2 {
	wire.FillDefaults(&cfg.Account, &cfg.Region, &cfg.Clock)
	return &EC2{account: cfg.Account, region: cfg.Region, clock: cfg.Clock, instances: map[string]*Instance{}}
}

// Handles reports whether r is an EC2 query-protocol request: one signed
// for the "ec2" service.
func (e *EC2) Handles(r *http.Request) bool {
	return r.Header.Get("X-Amz-Target") == "" && wire.SignedService(r.Header.Get("Authorization")) == "ec2"
}

// Lookup returns the instance with id.
func (e *EC2) Lookup(id string) (Instance, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	i, ok := e.instances[id]
	if !ok {
		return Instance{}, false
	}
	return *i, true
}

// ServeHTTP implements http.Handler.
func (e *EC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusBadRequest, "InvalidAction", "EC2 query requests are POST here, got "+r.Method)
		return
	}
	form, ferr := wire.QueryForm(w, r)
	if ferr != nil {
		writeError(w, ferr.Status, ferr.Code, ferr.Message)
		return
	}
	action := form.Get("Action")
	if v := form.Get("Version"); v != apiVersion {
		writeError(w, http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Invalid API version %q; this test bed serves %s", v, apiVersion))
		return
	}
	var out any
	var err error
	switch action {
	case "RunInstances":
		out, err = e.runInstances(form)
	case "DescribeInstances":
		out, err = e.describeInstances(form)
	default:
		writeError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service (not implemented by this test bed).", action))
		return
	}
	if err != nil {
		var qe *queryError
		if errors.As(err, &qe) {
			writeError(w, qe.status, qe.code, qe.msg)
			return
		}
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	writeResponse(w, out)
}

type queryError struct {
	status    int
	code, msg string
}

func (e *queryError) Error() string { return e.code + ": " + e.msg }

func errf(code, format string, args ...any) error {
	return &queryError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// list reads an EC2 list parameter: Name.1, Name.2, ...
func list(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[name+"."+strconv.Itoa(i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

func (e *EC2) runInstances(form url.Values) (any, error) {
	for _, n := range []string{"MinCount", "MaxCount"} {
		if form.Get(n) == "" {
			return nil, errf("MissingParameter", "The request must contain the parameter %s", n)
		}
	}
	minC, err1 := strconv.Atoi(form.Get("MinCount"))
	maxC, err2 := strconv.Atoi(form.Get("MaxCount"))
	switch {
	case err1 != nil || err2 != nil || minC < 1 || maxC < 1:
		return nil, errf("InvalidParameterValue", "MinCount and MaxCount must be positive integers, got %q and %q", form.Get("MinCount"), form.Get("MaxCount"))
	case minC > maxC:
		return nil, errf("InvalidParameterValue", "MinCount (%d) cannot be greater than MaxCount (%d)", minC, maxC)
	case minC > maxCount:
		return nil, errf("InstanceLimitExceeded", "You have requested more instances (%d) than your current instance limit of %d allows for the specified instance type.", minC, maxCount)
	}
	count := min(maxC, maxCount)
	image := form.Get("ImageId")
	if image == "" {
		return nil, errf("MissingParameter", "The request must contain the parameter ImageId")
	}
	itype := form.Get("InstanceType")
	if itype == "" {
		itype = "m1.small" // EC2's default when the AMI names none
	}
	profileArn, profileName := form.Get("IamInstanceProfile.Arn"), form.Get("IamInstanceProfile.Name")
	switch {
	case profileArn != "" && profileName != "":
		return nil, errf("InvalidParameterCombination", "The parameter 'iamInstanceProfile.name' may not be used in combination with 'iamInstanceProfile.arn'")
	case profileArn != "" && !strings.HasPrefix(profileArn, "arn:aws:iam::"+e.account+":instance-profile/"):
		return nil, errf("InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN", profileArn)
	case profileName != "":
		// The stand-in does not ask IAM: a name is taken as a profile at
		// the root path, as EC2 resolves names it is given.
		profileArn = "arn:aws:iam::" + e.account + ":instance-profile/" + profileName
	}
	now := e.clock.Now().UTC()
	res := "r-" + hexID()
	e.mu.Lock()
	defer e.mu.Unlock()
	var launched []*Instance
	for n := range count {
		i := &Instance{ID: "i-" + hexID(), ReservationID: res, ImageID: image, InstanceType: itype, LaunchIndex: n, Launched: now, ProfileArn: profileArn}
		if profileArn != "" {
			i.ProfileID = "AIPA" + strings.ToUpper(hexID())
		}
		e.instances[i.ID] = i
		e.order = append(e.order, i.ID)
		launched = append(launched, i)
	}
	return runResponse{envelope: newEnvelope(), reservationXML: e.reservationXML(res, launched)}, nil
}

// hexID is 17 hexadecimal digits, the length of EC2's current IDs.
func hexID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])[:17]
}

func (e *EC2) describeInstances(form url.Values) (any, error) {
	ids := list(form, "InstanceId")
	if form.Get("Filter.1.Name") != "" {
		return nil, errf("InvalidParameterValue", "filters are not implemented by this test bed; name instances by InstanceId")
	}
	for _, id := range ids {
		if !instanceID.MatchString(id) {
			return nil, errf("InvalidInstanceID.Malformed", "Invalid id: %q", id)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var missing []string
	for _, id := range ids {
		if _, ok := e.instances[id]; !ok {
			missing = append(missing, id)
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return nil, errf("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	default:
		return nil, errf("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	// Instances are listed by reservation, in launch order.
	byRes := map[string][]*Instance{}
	var resOrder []string
	for _, id := range e.order {
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		i := e.instances[id]
		if _, ok := byRes[i.ReservationID]; !ok {
			resOrder = append(resOrder, i.ReservationID)
		}
		byRes[i.ReservationID] = append(byRes[i.ReservationID], i)
	}
	out := describeResponse{envelope: newEnvelope(), Reservations: []reservationXML{}}
	for _, r := range resOrder {
		out.Reservations = append(out.Reservations, e.reservationXML(r, byRes[r]))
	}
	return out, nil
}

type reservationXML struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Groups        struct{}      `xml:"groupSet"`
	Instances     []instanceXML `xml:"instancesSet>item"`
}

type stateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type profileXML struct {
	Arn string `xml:"arn"`
	ID  string `xml:"id"`
}

type placementXML struct {
	AvailabilityZone string `xml:"availabilityZone"`
	Tenancy          string `xml:"tenancy"`
}

type instanceXML struct {
	InstanceID   string       `xml:"instanceId"`
	ImageID      string       `xml:"imageId"`
	State        stateXML     `xml:"instanceState"`
	LaunchIndex  int          `xml:"amiLaunchIndex"`
	InstanceType string       `xml:"instanceType"`
	LaunchTime   string       `xml:"launchTime"`
	Placement    placementXML `xml:"placement"`
	Profile      *profileXML  `xml:"iamInstanceProfile,omitempty"`
}

func (e *EC2) reservationXML(id string, instances []*Instance) reservationXML {
	r := reservationXML{ReservationID: id, OwnerID: e.account}
	for _, i := range instances {
		x := instanceXML{InstanceID: i.ID, ImageID: i.ImageID, State: stateXML{Code: 16, Name: "running"}, LaunchIndex: i.LaunchIndex,
			InstanceType: i.InstanceType, LaunchTime: i.Launched.Format(time.RFC3339),
			Placement: placementXML{AvailabilityZone: e.region + "a", Tenancy: "default"}}
		if i.ProfileArn != "" {
			x.Profile = &profileXML{Arn: i.ProfileArn, ID: i.ProfileID}
		}
		r.Instances = append(r.Instances, x)
	}
	return r
}

// writeResponse writes a response: EC2 puts the request ID and the
// result's members directly under <ActionResponse>, with no ActionResult.
func writeResponse(w http.ResponseWriter, result any) {
	b, err := xml.Marshal(result)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

// envelope is what every response starts with.
type envelope struct {
	Xmlns     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
}

func newEnvelope() envelope { return envelope{Xmlns: xmlns, RequestID: wire.RequestID()} }

type runResponse struct {
	XMLName xml.Name `xml:"RunInstancesResponse"`
	envelope
	reservationXML
}

type describeResponse struct {
	XMLName xml.Name `xml:"DescribeInstancesResponse"`
	envelope
	Reservations []reservationXML `xml:"reservationSet>item"`
}

type errorResponse struct {
	XMLName   xml.Name   `xml:"Response"`
	Errors    []errorXML `xml:"Errors>Error"`
	RequestID string     `xml:"RequestID"`
}

type errorXML struct {
	Code    string
	Message string
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := xml.Marshal(errorResponse{Errors: []errorXML{{Code: code, Message: msg}}, RequestID: wire.RequestID()})
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

type snapshot struct {
	Instances []*Instance `json:"instances"`
}

// Snapshot writes the instances.
func (e *EC2) Snapshot(w io.Writer) error {
	e.mu.Lock()
	var snap snapshot
	for _, id := range e.order {
		snap.Instances = append(snap.Instances, e.instances[id])
	}
	b, err := wire.EncodeSnapshot("ec2", snap)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Restore replaces the state with a snapshot's.
func (e *EC2) Restore(r io.Reader) error {
	var snap snapshot
	if err := wire.DecodeSnapshot(r, "ec2", &snap); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.instances, e.order = map[string]*Instance{}, nil
	for _, i := range snap.Instances {
		e.instances[i.ID] = i
		e.order = append(e.order, i.ID)
	}
	return nil
}
