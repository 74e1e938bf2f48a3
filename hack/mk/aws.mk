# AWS layer (controller/aws) and EC2 simulator (test/ec2sim, cmd/ec2sim).
EC2SIM_LISTEN ?= 127.0.0.1:8081
EC2SIM_STATE ?= $(GSI_CACHE)/ec2sim
EC2SIM_FLAGS ?=

.PHONY: ec2sim
ec2sim: ## run the EC2 simulator on $(EC2SIM_LISTEN), state in $(EC2SIM_STATE) (EC2SIM_FLAGS="-delay 5s -throttle-rate 0.3")
	go run ./cmd/ec2sim -listen $(EC2SIM_LISTEN) -state-dir $(EC2SIM_STATE) $(EC2SIM_FLAGS)

.PHONY: test-aws
test-aws: ## test the AWS layer and the EC2 simulator (real SDK and AWS CLI over HTTP)
	go test $(GO_TEST_FLAGS) ./controller/aws/... ./test/ec2sim/... ./cmd/ec2sim/...
