package proctest

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// SumMetric reads the Prometheus text format (`name{labels} value`) and
// sums the samples of metric name whose labels include every key="value"
// pair given.
func SumMetric(text, name string, labels ...string) (float64, error) {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			return 0, fmt.Errorf("metric line %q has no value", line)
		}
		metric, labelText, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(labelText, labels[i]+`="`+labels[i+1]+`"`) {
				match = false
			}
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %v", line, err)
		}
		sum += f
	}
	return sum, sc.Err()
}
