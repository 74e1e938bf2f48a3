package aws

import (
	"context"
	"sort"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// FindOwned lists the resources tagged for the cluster (and owner, when given), with
// all their tags, sorted by id.
func (c *Client) FindOwned(ctx context.Context, cluster string, owner *Owner) ([]TaggedResource, error) {
	filters := []types.Filter{{Name: sdkaws.String("tag:" + TagCluster), Values: []string{cluster}}}
	if owner != nil {
		filters = append(filters, types.Filter{Name: sdkaws.String("tag:" + TagTransitGateway), Values: []string{owner.Key()}})
	}
	byID := map[string]*TaggedResource{}
	p := ec2.NewDescribeTagsPaginator(c.ec2, &ec2.DescribeTagsInput{Filters: filters, MaxResults: sdkaws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrapErr("DescribeTags", err)
		}
		for _, t := range page.Tags {
			id := sdkaws.ToString(t.ResourceId)
			r := byID[id]
			if r == nil {
				r = &TaggedResource{ID: id, ResourceType: string(t.ResourceType), Tags: map[string]string{}}
				byID[id] = r
			}
			r.Tags[sdkaws.ToString(t.Key)] = sdkaws.ToString(t.Value)
		}
	}
	out := make([]TaggedResource, 0, len(byID))
	for _, r := range byID {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
