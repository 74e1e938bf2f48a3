package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/middleware"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// RateLimit is a client-side token bucket: QPS sustained, Burst at once.
type RateLimit struct {
	QPS   float64
	Burst int
}

// Defaults sit below EC2's own request-token buckets for an account (mutating actions
// refill slower than describes) so one controller never exhausts a shared account.
var (
	DefaultDescribeRateLimit = RateLimit{QPS: 20, Burst: 50}
	DefaultMutateRateLimit   = RateLimit{QPS: 5, Burst: 20}
)

// DefaultMaxAttempts is the attempts per call the standard retryer makes (throttling
// and 5xx are retried with jittered exponential backoff).
const DefaultMaxAttempts = 10

// Config is how the controller reaches EC2.
type Config struct {
	// Region, e.g. from GSIPlugin.spec.awsRegion. Required.
	Region string
	// Endpoint overrides the EC2 endpoint (the simulator: "http://127.0.0.1:8081").
	Endpoint string
	// Credentials overrides the default chain. When nil the SDK's default chain is used:
	// environment, shared config files, IRSA web identity (AWS_ROLE_ARN +
	// AWS_WEB_IDENTITY_TOKEN_FILE set by EKS for the service account), ECS and IMDS.
	Credentials sdkaws.CredentialsProvider
	// MaxAttempts per call (default DefaultMaxAttempts); MaxBackoff between attempts
	// (default 20s, the SDK's).
	MaxAttempts int
	MaxBackoff  time.Duration
	// RateLimits per operation name ("CreateRoute"); operations not listed use
	// DefaultDescribeRateLimit (Describe*, Search*) or DefaultMutateRateLimit.
	RateLimits map[string]RateLimit
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
	// HTTPClient overrides the SDK's HTTP client.
	HTTPClient *http.Client
	Logger     logr.Logger
}

// Client implements Interface over aws-sdk-go-v2's EC2 client.
type Client struct {
	ec2     *ec2.Client
	log     logr.Logger
	metrics *metrics
	limits  *limiters
}

// New builds a Client. It does not call AWS: credentials are resolved on first use.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Region == "" {
		return nil, fmt.Errorf("aws client: region is required: %w", ErrInvalidParameter)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	lim := &limiters{overrides: cfg.RateLimits, byOp: map[string]*rate.Limiter{}}
	attempts, backoff := cfg.MaxAttempts, cfg.MaxBackoff
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	if backoff <= 0 {
		backoff = retry.DefaultMaxBackoff
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithRetryer(func() sdkaws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = backoff
			})
		}),
	}
	if cfg.Credentials != nil {
		opts = append(opts, awsconfig.WithCredentialsProvider(cfg.Credentials))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws client: load config for region %s: %w", cfg.Region, err)
	}
	client := ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = sdkaws.String(cfg.Endpoint)
		}
		o.APIOptions = append(o.APIOptions, instrument(m, lim))
	})
	return &Client{ec2: client, log: cfg.Logger, metrics: m, limits: lim}, nil
}

// EC2 exposes the underlying SDK client for callers (tests, tools) that need a call the
// narrow interface does not offer.
func (c *Client) EC2() *ec2.Client { return c.ec2 }

// limiters holds one token bucket per operation, created on first use.
type limiters struct {
	overrides map[string]RateLimit
	mu        sync.Mutex
	byOp      map[string]*rate.Limiter
}

func (l *limiters) get(op string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.byOp[op]; ok {
		return lim
	}
	rl, ok := l.overrides[op]
	if !ok {
		rl = DefaultMutateRateLimit
		if strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "Search") || strings.HasPrefix(op, "Get") {
			rl = DefaultDescribeRateLimit
		}
	}
	lim := rate.NewLimiter(rate.Limit(rl.QPS), max(rl.Burst, 1))
	l.byOp[op] = lim
	return lim
}

type metrics struct {
	calls    *prometheus.CounterVec
	attempts *prometheus.CounterVec
	duration *prometheus.HistogramVec
	wait     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gsi_aws_api_calls_total",
			Help: "EC2 API calls by operation and final result (success or the AWS error code).",
		}, []string{"operation", "result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gsi_aws_api_attempts_total",
			Help: "EC2 API HTTP attempts (retries included) by operation and result.",
		}, []string{"operation", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gsi_aws_api_call_duration_seconds",
			Help:    "EC2 API call latency including retries and client-side rate limiting.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"operation"}),
		wait: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gsi_aws_ratelimit_wait_seconds_total",
			Help: "Time spent waiting for the client-side rate limiter, by operation.",
		}, []string{"operation"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.calls, err = registerAs(reg, m.calls); err != nil {
		return nil, err
	}
	if m.attempts, err = registerAs(reg, m.attempts); err != nil {
		return nil, err
	}
	if m.duration, err = registerAs(reg, m.duration); err != nil {
		return nil, err
	}
	if m.wait, err = registerAs(reg, m.wait); err != nil {
		return nil, err
	}
	return m, nil
}

// registerAs registers c, or returns the collector already registered under the same
// name (several Clients in one process share the metrics).
func registerAs[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register aws metrics: %w", err)
}

// resultLabel is "success", the AWS error code, or "error" for transport failures.
func resultLabel(err error) string {
	if err == nil {
		return "success"
	}
	if code := ErrorCode(err); code != "" {
		return code
	}
	return "error"
}

// instrument adds, to every operation, the call metrics (Initialize: once per call) and
// per-attempt rate limiting and metrics (Finalize, after the retryer: once per attempt,
// so retries spend tokens too).
func instrument(m *metrics, lim *limiters) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("gsiCallMetrics",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := middleware.GetOperationName(ctx)
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
				m.calls.WithLabelValues(op, resultLabel(err)).Inc()
				return out, md, err
			}), middleware.Before)
		if err != nil {
			return fmt.Errorf("add call metrics middleware: %w", err)
		}
		err = stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("gsiRateLimit",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				op := middleware.GetOperationName(ctx)
				start := time.Now()
				if err := lim.get(op).Wait(ctx); err != nil {
					return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("rate limit %s: %w", op, err)
				}
				m.wait.WithLabelValues(op).Add(time.Since(start).Seconds())
				out, md, err := next.HandleFinalize(ctx, in)
				m.attempts.WithLabelValues(op, resultLabel(err)).Inc()
				return out, md, err
			}), "Retry", middleware.After)
		if err != nil {
			return fmt.Errorf("add rate limit middleware: %w", err)
		}
		return nil
	}
}
