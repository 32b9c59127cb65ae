package mutate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
)

// TestTemplateFile: template-file-<name> is accepted when agent-copy-volume-mounts gives the
// agent a mount covering the file, and reaches the agent's config; without it, or with a
// container that does not mount the file, the pod is refused naming the annotation and the fix.
func TestTemplateFile(t *testing.T) {
	key := contract.AnnotationTemplateFilePrefix + "db"
	withConf := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.Volumes = []corev1.Volume{{Name: "tmpl"}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "tmpl", MountPath: "/etc/app/templates"}}
		return p
	}
	pod := withConf(testPod(map[string]string{key: "/etc/app/templates/db.tmpl", contract.AnnotationAgentCopyVolumeMounts: "app",
		contract.AnnotationLeftDelimPrefix + "db": "[[", contract.AnnotationRightDelimPrefix + "db": "]]"}, "app"))
	_, cfg := injectWith(t, pod, testDefaults())
	var got *contract.Secret
	for i := range cfg.Secrets {
		if cfg.Secrets[i].Name == "db" {
			got = &cfg.Secrets[i]
		}
	}
	if got == nil || got.TemplateFile != "/etc/app/templates/db.tmpl" || got.Path != "" || got.Template != "" || got.Format != "" ||
		got.LeftDelim != "[[" || got.RightDelim != "]]" {
		t.Errorf("secret db = %+v", got)
	}

	fix := "set " + contract.AnnotationAgentCopyVolumeMounts + " to the container that mounts it"
	checkDenial(t, withConf(testPod(map[string]string{key: "/etc/app/templates/db.tmpl"}, "app")), nil, DenyConflict,
		[]string{key + `="/etc/app/templates/db.tmpl": the agent sees no file of the app's: ` + fix})
	checkDenial(t, withConf(testPod(map[string]string{key: "/etc/other/db.tmpl", contract.AnnotationAgentCopyVolumeMounts: "app"}, "app")), nil, DenyConflict,
		[]string{key + `="/etc/other/db.tmpl" is under none of the mounts of container "app"`, fix})
	// A path that only shares a prefix with the mount is not under it.
	checkDenial(t, withConf(testPod(map[string]string{key: "/etc/app/templates2/db.tmpl", contract.AnnotationAgentCopyVolumeMounts: "app"}, "app")), nil, DenyConflict,
		[]string{key + `="/etc/app/templates2/db.tmpl" is under none`})
}
