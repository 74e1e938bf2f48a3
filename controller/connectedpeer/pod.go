package connectedpeer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	gsiv1 "github.com/opengsi/gsi/api/core/v1"
)

// Where the router pod finds its license and bpffs.
const (
	LicenseMountPath = "/etc/gsi/license"
	BPFFSPath        = "/sys/fs/bpf"
	// TemplateHashAnnotation holds the hash of the pod template the pod was built from;
	// a pod built from an older template is replaced.
	TemplateHashAnnotation = "core.gsi.juniper.net/template-hash"
	hostnameTopologyKey    = "kubernetes.io/hostname"
)

// PodOptions are the defaults of router pods (flags of the controller).
type PodOptions struct {
	// RouterImage runs gsi-router (crpdContainer's default image).
	RouterImage string
	// InitImage runs the license check (initContainer's default image); it needs sh.
	InitImage string
	// ServiceAccount the router runs as (it reads its ConnectedPeer, writes its status).
	ServiceAccount string
	// PullPolicy of the default images.
	PullPolicy corev1.PullPolicy
}

// PodName is the router pod of a ConnectedPeer: "<tgw>-peer-<index>".
func PodName(cp *gsiv1.ConnectedPeer) string {
	return cp.Spec.TransitGatewayName + "-peer-" + strconv.Itoa(int(cp.Spec.Index))
}

// RouterArgs are the arguments gsi-router needs to find its ConnectedPeer.
func RouterArgs(cp *gsiv1.ConnectedPeer) []string {
	return []string{"run", "--cluster", "--connected-peer=" + cp.Name, "--namespace=" + cp.Namespace}
}

// licenseCheck fails the init container with a message kubectl shows when the license
// is missing: the first cause of a router without BGP sessions in the CN2 guide.
const licenseCheck = `test -s ` + LicenseMountPath + `/` + gsiv1.LicenseSecretKey + ` || { echo "gsi: no router license: the Secret named by the TransitGateway's licenseSecretName must hold key ` + gsiv1.LicenseSecretKey + `" >&2; exit 1; }`

// RouterPod builds the router pod of cp from the TransitGateway's container specs,
// merged field by field over gsi's defaults.
func RouterPod(tgw *gsiv1.TransitGateway, cp *gsiv1.ConnectedPeer, o PodOptions) *corev1.Pod {
	license := tgw.Spec.LicenseSecretName
	if license == "" {
		license = gsiv1.DefaultLicenseSecretName
	}
	labels := map[string]string{
		"app": gsiv1.RouterPodAppLabel, gsiv1.TransitGatewayLabel: tgw.Name, gsiv1.PeerIndexLabel: strconv.Itoa(int(cp.Spec.Index)),
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: cp.Namespace, Name: PodName(cp), Labels: labels},
		Spec: corev1.PodSpec{
			HostNetwork:                   true,
			DNSPolicy:                     corev1.DNSClusterFirstWithHostNet,
			ServiceAccountName:            o.ServiceAccount,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			Affinity:                      routerAffinity(),
			// crpd nodes are often tainted to keep other workloads off; routers go there.
			Tolerations: []corev1.Toleration{{Key: gsiv1.CRPDNodeLabel, Operator: corev1.TolerationOpExists}},
			InitContainers: []corev1.Container{merge(corev1.Container{
				Name: "init", Image: o.InitImage, ImagePullPolicy: o.PullPolicy,
				Command:      []string{"sh", "-c", licenseCheck},
				VolumeMounts: []corev1.VolumeMount{{Name: "license", MountPath: LicenseMountPath, ReadOnly: true}},
			}, tgw.Spec.InitContainer)},
			Containers: []corev1.Container{merge(routerContainer(cp, o), tgw.Spec.CrpdContainer)},
			Volumes: []corev1.Volume{
				{Name: "license", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: license, Items: []corev1.KeyToPath{{Key: gsiv1.LicenseSecretKey, Path: gsiv1.LicenseSecretKey}}}}},
				{Name: "bpffs", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: BPFFSPath, Type: ptr.To(corev1.HostPathDirectoryOrCreate)}}},
			},
		},
	}
	pod.Annotations = map[string]string{TemplateHashAnnotation: templateHash(pod)}
	return pod
}

func routerContainer(cp *gsiv1.ConnectedPeer, o PodOptions) corev1.Container {
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	return corev1.Container{
		Name: "crpd", Image: o.RouterImage, ImagePullPolicy: o.PullPolicy,
		Command: []string{"gsi-router"},
		Args:    RouterArgs(cp),
		Env: []corev1.EnvVar{
			{Name: "NODE_IP", ValueFrom: field("status.hostIP")},
			{Name: "POD_NAME", ValueFrom: field("metadata.name")},
			{Name: "POD_NAMESPACE", ValueFrom: field("metadata.namespace")},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "license", MountPath: LicenseMountPath, ReadOnly: true},
			{Name: "bpffs", MountPath: BPFFSPath},
		},
		// GRE and MPLS-over-UDP forwarding in eBPF on the host's interfaces.
		SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
	}
}

// routerAffinity: only crpd nodes, one router per node (they share the host's network
// namespace: BGP port, GRE, eBPF programs).
func routerAffinity() *corev1.Affinity {
	return &corev1.Affinity{
		NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: gsiv1.CRPDNodeLabel, Operator: corev1.NodeSelectorOpExists},
			}}},
		}},
		PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": gsiv1.RouterPodAppLabel}},
			TopologyKey:   hostnameTopologyKey,
		}}},
	}
}

// merge lays the user's container over the default: every field the user set wins;
// env vars and volume mounts are merged by name so the router keeps what it needs.
func merge(def corev1.Container, user *corev1.Container) corev1.Container {
	if user == nil {
		return def
	}
	out := *user.DeepCopy()
	if out.Name == "" {
		out.Name = def.Name
	}
	if out.Image == "" {
		out.Image = def.Image
	}
	if out.ImagePullPolicy == "" {
		out.ImagePullPolicy = def.ImagePullPolicy
	}
	if len(out.Command) == 0 && len(out.Args) == 0 {
		out.Command, out.Args = def.Command, def.Args
	}
	for _, e := range def.Env {
		if !slices.ContainsFunc(out.Env, func(u corev1.EnvVar) bool { return u.Name == e.Name }) {
			out.Env = append(out.Env, e)
		}
	}
	for _, m := range def.VolumeMounts {
		if !slices.ContainsFunc(out.VolumeMounts, func(u corev1.VolumeMount) bool { return u.Name == m.Name || u.MountPath == m.MountPath }) {
			out.VolumeMounts = append(out.VolumeMounts, m)
		}
	}
	if out.SecurityContext == nil {
		out.SecurityContext = def.SecurityContext
	}
	return out
}

func templateHash(pod *corev1.Pod) string {
	// A PodSpec always marshals (plain data, no channels or funcs).
	b, _ := json.Marshal(struct {
		Labels map[string]string
		Spec   corev1.PodSpec
	}{pod.Labels, pod.Spec})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
