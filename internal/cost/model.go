package cost

import (
	"math"
	"time"
)

// ShardModelOptions ask how shard size and memory would move the price of
// the checks a report measured.
type ShardModelOptions struct {
	Sizes      []int // checks per shard (the planner's MaxChecks)
	MemoriesMB []int // the probe function's memory
	Price      Price // the probes' price
	// MaxPayloadBytes is the planner's payload bound: a shard never grows
	// past it, whatever its size in checks.
	MaxPayloadBytes int
	// CPUMsPerCheck is the CPU one check costs, for the load column.
	CPUMsPerCheck float64
}

// FullVCPUMemoryMB is the memory at which Lambda gives a function one whole
// vCPU; CPU share is proportional to memory below it.
const FullVCPUMemoryMB = 1769

// ShardRow is the modelled price of one shard size and memory size.
type ShardRow struct {
	MaxChecks     int     `json:"max_checks"`
	MemoryMB      int     `json:"memory_mb"`
	ShardsPerSpan float64 `json:"shards_per_span"`
	VCPU          float64 `json:"vcpu"`
	// CPULoad is the busiest shard's checks per second times CPUMsPerCheck,
	// as a share of its vCPU: near or above 1 the probe falls behind and
	// its response times include waiting for the CPU.
	CPULoad           float64 `json:"cpu_load"`
	CostPer1000Checks float64 `json:"cost_per_1000_checks_usd"`
	PerURLMonth5s     float64 `json:"per_url_month_5s_usd"`
	PerURLMonth60s    float64 `json:"per_url_month_60s_usd"`
}

// ShardModel reprices the measured spans for each shard size and memory.
// Every modelled probe invocation lasts the measured mean: true of busy
// shards, which wait out the span whatever their size, and an overstatement
// of the saving for burst shards, whose duration grows with their size. The
// fanout's cost is kept as measured. Nil without probe invocations.
func ShardModel(spans []SpanCost, opt ShardModelOptions) []ShardRow {
	var (
		invocations, billedMS int64
		checks                int64
		fanout                float64
	)
	for _, s := range spans {
		switch s.Function {
		case FunctionProbe:
			invocations += int64(s.Invocations)
			billedMS += s.BilledMS
			checks += s.ChecksDone
		case FunctionFanout:
			fanout += s.CostUSD
		}
	}
	if invocations == 0 || checks == 0 {
		return nil
	}
	mean := time.Duration(billedMS/invocations) * time.Millisecond
	var rows []ShardRow
	for _, size := range opt.Sizes {
		for _, mem := range opt.MemoriesMB {
			if size <= 0 || mem <= 0 {
				continue
			}
			row := ShardRow{MaxChecks: size, MemoryMB: mem, VCPU: float64(mem) / FullVCPUMemoryMB}
			perInvocation := GBSeconds(mem, mean)*opt.Price.GBSecond + opt.Price.Request
			var shards float64
			spanSet := map[time.Time]bool{}
			for _, s := range spans {
				if s.Function != FunctionProbe || s.ChecksDone == 0 {
					continue
				}
				spanSet[s.SpanStart] = true
				n := math.Ceil(float64(s.ChecksDone) / float64(size))
				if opt.MaxPayloadBytes > 0 {
					n = max(n, math.Ceil(float64(s.PayloadBytes)/float64(opt.MaxPayloadBytes)))
				}
				shards += n
				perSecond := float64(s.ChecksDone) / n / SpanLength.Seconds()
				row.CPULoad = max(row.CPULoad, perSecond*opt.CPUMsPerCheck/1000/row.VCPU)
			}
			row.ShardsPerSpan = shards / float64(len(spanSet))
			perCheck := (shards*perInvocation + fanout) / float64(checks)
			row.CostPer1000Checks = perCheck * 1000
			row.PerURLMonth5s = perCheck * Month.Seconds() / 5
			row.PerURLMonth60s = perCheck * Month.Seconds() / 60
			rows = append(rows, row)
		}
	}
	return rows
}
