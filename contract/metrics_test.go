package contract

import (
	"strings"
	"testing"
)

func TestMetricsListenValidate(t *testing.T) {
	for listen, ok := range map[string]bool{MetricsListenLoopback: true, MetricsListenPod: true, "cluster": false, "Pod": false} {
		c := validConfig()
		c.MetricsListen = listen
		err := c.Validate()
		if ok != (err == nil) || !ok && !strings.Contains(err.Error(), "metricsListen") {
			t.Errorf("metricsListen %q: %v", listen, err)
		}
	}
}
