package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/pullheal/pullheal/internal/imageref"
	"github.com/pullheal/pullheal/policy"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "check a policy file and what it decides",
		// Without it an unknown subcommand reads as a help topic (exit 1).
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return inputErrorf("unknown policy command %q (want validate or test)", c.Args().First())
			}
			return cli.ShowSubcommandHelp(c)
		},
		Subcommands: []*cli.Command{
			{
				Name:      "validate",
				Usage:     "report every problem of a policy file, each as FILE:LINE:COLUMN: message",
				ArgsUsage: "FILE|s3://BUCKET/KEY|ssm:NAME",
				Action:    policyValidate,
			},
			{
				Name:      "test",
				Usage:     "print the policy's decision, and the rule that made it, for each image",
				ArgsUsage: "IMAGE...",
				Flags: []cli.Flag{
					policyFlag(),
					clusterFlag(),
					serviceFlag(),
					familyFlag(),
					outputFlag(),
				},
				Action: policyTest,
			},
		},
	}
}

// policyValidate prints every problem, one a line, and exits 2 if there
// is any: the one place where more than one line of error is the point.
func policyValidate(c *cli.Context) error {
	if c.NArg() != 1 {
		return inputErrorf("policy validate takes one policy file, got %d arguments", c.NArg())
	}
	path := c.Args().First()
	snap, _, err := readPolicy(c.Context, path, nil)
	var perr *policy.Error
	if errors.As(err, &perr) && len(perr.Problems) > 1 {
		for _, pr := range perr.Problems {
			fmt.Fprintln(c.App.ErrWriter, pr.String())
		}
		return inputErrorf("%s: %d problems", path, len(perr.Problems))
	}
	if err != nil {
		return err
	}
	p := snap.Policy
	fmt.Fprintf(c.App.Writer, "%s: valid (%d image rules, %d deny rules, typosquat protection %s)\n",
		path, len(p.Images), len(p.Deny), onOff(p.Typosquat.Enabled))
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// Verdict is one line of `policy test --output json`.
type Verdict struct {
	Image     string `json:"image"`
	Reference string `json:"reference,omitempty"`
	Action    string `json:"action"`
	Rule      string `json:"rule"`
	Reason    string `json:"reason"`
	Mirror    bool   `json:"mirrorAllowed"`
	Error     string `json:"error,omitempty"`
}

func policyTest(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	if c.String("policy") == "" {
		return inputErrorf("policy test needs --policy FILE")
	}
	if c.NArg() == 0 {
		return inputErrorf("policy test needs at least one image")
	}
	snap, _, err := readPolicy(c.Context, c.String("policy"), nil)
	if err != nil {
		return err
	}
	p := snap.Policy
	subj := policy.Subject{Cluster: c.String("cluster"), Service: c.String("service"), Family: c.String("family")}
	var verdicts []Verdict
	bad := 0
	for _, img := range c.Args().Slice() {
		verdicts = append(verdicts, decide(p, img, subj))
		if verdicts[len(verdicts)-1].Error != "" {
			bad++
		}
	}
	if format == "json" {
		if err := writeJSON(c.App.Writer, verdicts); err != nil {
			return err
		}
	} else {
		writeVerdicts(c.App.Writer, verdicts)
	}
	if bad > 0 {
		return inputErrorf("%d of %d images are not valid references", bad, len(verdicts))
	}
	return nil
}

func decide(p *policy.Policy, image string, subj policy.Subject) Verdict {
	v := Verdict{Image: image}
	ref, err := imageref.Parse(image)
	if err != nil {
		v.Action, v.Error = "invalid", err.Error()
		return v
	}
	v.Reference = ref.String()
	if ok, why := p.InScope(subj); !ok {
		v.Action, v.Rule, v.Reason = "none", "scope", "out of scope: "+why
		return v
	}
	d := p.Decide(ref, subj)
	v.Action = string(d.Action)
	if d.Action == policy.ActionDefault {
		v.Action = "default"
	}
	v.Rule, v.Reason, v.Mirror = d.Rule, d.Reason, d.MirrorAllowed
	return v
}

func writeVerdicts(w io.Writer, vs []Verdict) {
	for _, v := range vs {
		if v.Error != "" {
			fmt.Fprintf(w, "%s: invalid: %s\n", v.Image, v.Error)
			continue
		}
		fmt.Fprintf(w, "%s: %s by %s: %s\n", v.Image, v.Action, v.Rule, v.Reason)
	}
}
