package contract

import "fmt"

// LabelInjected marks every injected pod, so a PodMonitor can select the agents to scrape.
const (
	LabelInjected      = Prefix + "injected"
	LabelInjectedValue = "true"
)

// MetricsPortName names the agent's metrics container port when it listens on the pod IP.
const MetricsPortName = "vault-metrics"

// Values of Config.MetricsListen.
const (
	MetricsListenLoopback = ""    // 127.0.0.1 only (the default)
	MetricsListenPod      = "pod" // every address of the pod (its IP), for Prometheus
)

func (c *Config) validateMetrics() error {
	if c.MetricsListen != MetricsListenLoopback && c.MetricsListen != MetricsListenPod {
		return fmt.Errorf("metricsListen %q is invalid: use %q or leave it empty (loopback)", c.MetricsListen, MetricsListenPod)
	}
	return nil
}
