package activities

// Seeds are derived, never drawn: a synthetic sample depends only on (run seed, round,
// global prompt index, sample j), so the same run gives the same samples whatever the
// shard layout, batch size or worker that produced them, and a retried activity
// reproduces its output exactly.

// mix is SplitMix64's finalizer: a cheap bijection that spreads nearby inputs apart.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// sampleSeed is the seed of synthetic sample j of prompt i in round r.
func sampleSeed(seed uint64, round, prompt, j int) uint64 {
	return mix(mix(mix(mix(seed)^uint64(round))^uint64(prompt)) ^ uint64(j))
}
