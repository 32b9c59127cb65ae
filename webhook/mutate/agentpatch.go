package mutate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
)

// agentOwned are the agent container's fields a JSON patch may not touch: what makes it the
// agent (name, image, command, args), what makes it a native sidecar that holds the app back
// until the first render (restartPolicy, startupProbe), and its mounts, which only grow (an
// add at /volumeMounts/-).
var agentOwned = []string{"name", "image", "command", "args", "restartPolicy", "startupProbe", "volumeMounts"}

// planAgentPatches applies agent-init-json-patch and agent-json-patch to the agent containers
// they are for, as vault-k8s applies them to its init and sidecar containers: the native sidecar
// is both, so it gets the init patch and then the sidecar one; init-only has no sidecar. A patch
// is refused, naming its JSON pointer, when it touches a field the injector owns, adds a field
// Kubernetes does not know, or leaves the container short of the restricted Pod Security
// Standard.
func (p *plan) planAgentPatches() []string {
	sidecar, init := p.opts.AgentJSONPatch, p.opts.AgentInitJSONPatch
	if sidecar == "" && init == "" {
		return nil
	}
	var problems []string
	apply := func(c corev1.Container, keys ...string) *corev1.Container {
		for _, key := range keys {
			patch := map[string]string{contract.AnnotationAgentJSONPatch: sidecar, contract.AnnotationAgentInitJSONPatch: init}[key]
			if patch == "" {
				continue
			}
			var err error
			if c, err = patchContainer(c, key, patch); err != nil {
				problems = append(problems, err.Error())
				return nil
			}
		}
		return &c
	}
	switch p.shape {
	case ShapeNative:
		p.patchedInit = apply(p.baseInitAgent(), contract.AnnotationAgentInitJSONPatch, contract.AnnotationAgentJSONPatch)
	case ShapeClassic:
		p.patchedInit = apply(p.baseInitAgent(), contract.AnnotationAgentInitJSONPatch)
		p.patchedSidecar = apply(p.agent(contract.AgentContainer, false), contract.AnnotationAgentJSONPatch)
	case ShapeInitOnly:
		p.patchedInit = apply(p.baseInitAgent(), contract.AnnotationAgentInitJSONPatch)
		if sidecar != "" {
			p.warnings = append(p.warnings, fmt.Sprintf("%s is ignored: the agent is init-only, so there is no sidecar to patch (%s patches the init agent)",
				contract.AnnotationAgentJSONPatch, contract.AnnotationAgentInitJSONPatch))
		}
	}
	return problems
}

// patchContainer applies patch (the value of key) to c and checks the result.
func patchContainer(c corev1.Container, key, patch string) (corev1.Container, error) {
	ops, err := jsonpatchapply.DecodePatch([]byte(patch))
	if err != nil {
		return c, fmt.Errorf("%s: not a JSON patch: %w", key, err)
	}
	for _, op := range ops {
		for _, field := range []string{"path", "from"} {
			ptr, err := op.Path()
			if field == "from" {
				if ptr, err = op.From(); err != nil {
					continue // only move and copy have one
				}
			}
			if err != nil {
				return c, fmt.Errorf("%s: an op has no path", key)
			}
			if msg := ownedField(op.Kind(), field, ptr); msg != "" {
				return c, fmt.Errorf("%s: %s", key, msg)
			}
		}
	}
	raw, err := appendable(c)
	if err != nil {
		return c, fmt.Errorf("%s: encoding the agent container: %w", key, err)
	}
	out, err := ops.Apply(raw)
	if err != nil {
		return c, fmt.Errorf("%s: applying it to the agent container: %w: each path is a JSON pointer into the container, such as /resources/limits/cpu", key, err)
	}
	var patched corev1.Container
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&patched); err != nil {
		return c, fmt.Errorf("%s: the patched agent container is not a valid container: %w", key, err)
	}
	if msg := restricted(&patched); msg != "" {
		return c, fmt.Errorf("%s: the patched agent container would break the restricted Pod Security Standard at %s: keep the injector's security context", key, msg)
	}
	return patched, nil
}

// appendable is c as JSON with its lists present even when empty, so that an add at /env/-
// (vault-k8s' agent always has an env, and its users' patches append to it) finds a list to
// append to; empty lists are dropped again when the result is encoded.
func appendable(c corev1.Container) ([]byte, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	for _, list := range []string{"env", "envFrom", "ports", "volumeMounts", "volumeDevices"} {
		if _, ok := doc[list]; !ok {
			doc[list] = json.RawMessage("[]")
		}
	}
	return json.Marshal(doc)
}

// ownedField says why an op at ptr may not be applied ("" when it may).
func ownedField(kind, field, ptr string) string {
	segs := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	if ptr == "" || ptr == "/" {
		return fmt.Sprintf("op %s at %q replaces the whole agent container: patch its fields, such as /resources", kind, ptr)
	}
	if !slices.Contains(agentOwned, segs[0]) {
		return ""
	}
	if segs[0] == "volumeMounts" && kind == "add" && field == "path" && ptr == "/volumeMounts/-" {
		return ""
	}
	return fmt.Sprintf("op %s at %s changes the agent's %s, which the injector sets (mounts may only be added, at /volumeMounts/-)", kind, ptr, segs[0])
}

// restricted is the JSON pointer of the first setting of c that the restricted Pod Security
// Standard (and the injector's own lock-down: a read-only root filesystem) does not allow, or "".
func restricted(c *corev1.Container) string {
	sc := c.SecurityContext
	for i, p := range c.Ports {
		if p.HostPort != 0 {
			return fmt.Sprintf("/ports/%d/hostPort", i)
		}
	}
	switch {
	case sc == nil:
		return "/securityContext"
	case sc.Privileged != nil && *sc.Privileged:
		return "/securityContext/privileged"
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		return "/securityContext/allowPrivilegeEscalation"
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		return "/securityContext/runAsNonRoot"
	case sc.RunAsUser != nil && *sc.RunAsUser == 0:
		return "/securityContext/runAsUser"
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		return "/securityContext/readOnlyRootFilesystem"
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault && sc.SeccompProfile.Type != corev1.SeccompProfileTypeLocalhost:
		return "/securityContext/seccompProfile"
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
		return "/securityContext/capabilities/drop"
	case sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount:
		return "/securityContext/procMount"
	case sc.WindowsOptions != nil && sc.WindowsOptions.HostProcess != nil && *sc.WindowsOptions.HostProcess:
		return "/securityContext/windowsOptions/hostProcess"
	case sc.SELinuxOptions != nil && (sc.SELinuxOptions.User != "" || sc.SELinuxOptions.Role != "" ||
		!slices.Contains([]string{"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}, sc.SELinuxOptions.Type)):
		return "/securityContext/seLinuxOptions"
	case sc.AppArmorProfile != nil && sc.AppArmorProfile.Type == corev1.AppArmorProfileTypeUnconfined:
		return "/securityContext/appArmorProfile"
	}
	for i, add := range sc.Capabilities.Add {
		if add != "NET_BIND_SERVICE" {
			return fmt.Sprintf("/securityContext/capabilities/add/%d", i)
		}
	}
	return ""
}
