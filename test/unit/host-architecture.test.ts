import { InstanceType } from '@pulumi/aws/types/enums/ec2';
import { architectureOf } from '../../components/host/architecture';
import { isInstanceType } from '../../components/host/validate';

/** Every instance type name @pulumi/aws knows (its EC2 InstanceType enum). */
const KNOWN_TYPES: string[] = Object.values(InstanceType);

// Real instance types, by family, with the architecture EC2 reports for them
// (DescribeInstanceTypes ProcessorInfo.SupportedArchitectures, as recorded in
// eksctl's generated pkg/utils/instance/instance_types.go), written out here
// rather than derived from any naming rule.
const TABLE: [string, 'x86_64' | 'arm64'][] = [
  // AWS Graviton
  ['a1.medium', 'arm64'],
  ['a1.metal', 'arm64'],
  ['t4g.nano', 'arm64'],
  ['t4g.2xlarge', 'arm64'],
  ['m6g.medium', 'arm64'],
  ['m6gd.16xlarge', 'arm64'],
  ['m7g.large', 'arm64'],
  ['m7gd.metal', 'arm64'],
  ['m8g.metal-24xl', 'arm64'],
  ['m8gd.48xlarge', 'arm64'],
  ['m8gb.metal-48xl', 'arm64'],
  ['m8gn.24xlarge', 'arm64'],
  ['m9g.large', 'arm64'],
  ['m9gd.large', 'arm64'],
  ['c6g.medium', 'arm64'],
  ['c6gd.xlarge', 'arm64'],
  ['c6gn.16xlarge', 'arm64'],
  ['c7g.large', 'arm64'],
  ['c7gd.metal', 'arm64'],
  ['c7gn.metal', 'arm64'],
  ['c8g.48xlarge', 'arm64'],
  ['c8gn.large', 'arm64'],
  ['c8gb.metal-24xl', 'arm64'],
  ['c9g.large', 'arm64'],
  ['r6g.large', 'arm64'],
  ['r6gd.metal', 'arm64'],
  ['r7g.16xlarge', 'arm64'],
  ['r7gd.large', 'arm64'],
  ['r8g.metal-48xl', 'arm64'],
  ['r8gd.large', 'arm64'],
  ['r8gn.large', 'arm64'],
  ['r8gb.large', 'arm64'],
  ['x2gd.metal', 'arm64'],
  ['x8g.large', 'arm64'],
  ['im4gn.large', 'arm64'],
  ['is4gen.medium', 'arm64'],
  ['i4g.large', 'arm64'],
  ['i8g.large', 'arm64'],
  ['i8ge.metal-48xl', 'arm64'],
  ['g5g.xlarge', 'arm64'],
  ['hpc7g.16xlarge', 'arm64'],
  // NVIDIA Grace (Arm) hosts; Apple silicon Macs
  ['p6e-gb200.36xlarge', 'arm64'],
  ['mac2.metal', 'arm64'],
  ['mac2-m2pro.metal', 'arm64'],
  ['mac-m4.metal', 'arm64'],
  // Intel and AMD, including families with a `g` that is not Graviton
  ['t3.small', 'x86_64'],
  ['t3a.micro', 'x86_64'],
  ['t2.nano', 'x86_64'],
  ['m5.large', 'x86_64'],
  ['m5zn.metal', 'x86_64'],
  ['m6i.large', 'x86_64'],
  ['m7i.large', 'x86_64'],
  ['m7i-flex.large', 'x86_64'],
  ['m7i-flex.8xlarge', 'x86_64'],
  ['c7i-flex.large', 'x86_64'],
  ['c8i-flex.large', 'x86_64'],
  ['m8i-flex.large', 'x86_64'],
  ['r8i-flex.large', 'x86_64'],
  ['m7a.medium', 'x86_64'],
  ['c7a.metal-48xl', 'x86_64'],
  ['c7i.metal-24xl', 'x86_64'],
  ['c8ine.large', 'x86_64'],
  ['r7iz.metal-16xl', 'x86_64'],
  ['m8azn.medium', 'x86_64'],
  ['m8idb.large', 'x86_64'],
  ['x1e.xlarge', 'x86_64'],
  ['x2iedn.metal', 'x86_64'],
  ['x2iezn.metal', 'x86_64'],
  ['x8aedz.large', 'x86_64'],
  ['u-6tb1.metal', 'x86_64'],
  ['u-6tb1.56xlarge', 'x86_64'],
  ['u7i-12tb.224xlarge', 'x86_64'],
  ['u7in-32tb.224xlarge', 'x86_64'],
  ['g4dn.xlarge', 'x86_64'],
  ['g4ad.xlarge', 'x86_64'],
  ['g5.xlarge', 'x86_64'],
  ['g6.xlarge', 'x86_64'],
  ['g6e.xlarge', 'x86_64'],
  ['g6f.large', 'x86_64'],
  ['gr6.4xlarge', 'x86_64'],
  ['gr6f.4xlarge', 'x86_64'],
  ['g7e.2xlarge', 'x86_64'],
  ['inf1.xlarge', 'x86_64'],
  ['inf2.xlarge', 'x86_64'],
  ['trn1.2xlarge', 'x86_64'],
  ['trn1n.32xlarge', 'x86_64'],
  ['trn2.48xlarge', 'x86_64'],
  ['dl1.24xlarge', 'x86_64'],
  ['dl2q.24xlarge', 'x86_64'],
  ['p4d.24xlarge', 'x86_64'],
  ['p5.48xlarge', 'x86_64'],
  ['p6-b200.48xlarge', 'x86_64'],
  ['f2.12xlarge', 'x86_64'],
  ['vt1.3xlarge', 'x86_64'],
  ['hpc7a.96xlarge', 'x86_64'],
  ['hpc6id.32xlarge', 'x86_64'],
  ['i7ie.large', 'x86_64'],
  ['d3en.xlarge', 'x86_64'],
  ['z1d.large', 'x86_64'],
  ['mac1.metal', 'x86_64'],
];

// Every family of KNOWN_TYPES that is not x86_64 (eksctl's generated table
// lists exactly the first 41 as arm64; the Grace and Apple silicon families are
// not in it: EKS runs on neither).
const ARM64_FAMILIES = new Set([
  'a1', 'c6g', 'c6gd', 'c6gn', 'c7g', 'c7gd', 'c7gn', 'c8g', 'c8gb', 'c8gd', 'c8gn', 'c9g', 'c9gd', 'g5g', 'hpc7g', 'i4g', 'i8g',
  'i8ge', 'im4gn', 'is4gen', 'm6g', 'm6gd', 'm7g', 'm7gd', 'm8g', 'm8gb', 'm8gd', 'm8gn', 'm9g', 'm9gd', 'r6g', 'r6gd', 'r7g',
  'r7gd', 'r8g', 'r8gb', 'r8gd', 'r8gn', 't4g', 'x2gd', 'x8g',
  'p6e-gb200',
  'mac2', 'mac2-m1ultra', 'mac2-m2', 'mac2-m2pro', 'mac-m3ultra', 'mac-m4', 'mac-m4max', 'mac-m4pro',
]);

describe('architectureOf', () => {
  it('is tested with real instance type names only', () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(40);
    expect(TABLE.map(([name]) => name).filter((name) => !KNOWN_TYPES.includes(name))).toEqual([]);
  });

  it.each(TABLE)('%s runs %s', (name, architecture) => {
    expect(architectureOf(name)).toBe(architecture);
  });

  it('classifies every instance type @pulumi/aws knows as the table of arm64 families says', () => {
    expect(KNOWN_TYPES.length).toBeGreaterThan(1000);
    const wrong = KNOWN_TYPES.filter((name) => architectureOf(name) !== (ARM64_FAMILIES.has(name.split('.')[0]) ? 'arm64' : 'x86_64'));
    expect(wrong).toEqual([]);
    // Each arm64 family of the table is a family EC2 has.
    const families = new Set(KNOWN_TYPES.map((name) => name.split('.')[0]));
    expect([...ARM64_FAMILIES].filter((family) => !families.has(family))).toEqual([]);
  });

  it('reads a flex or other suffix after the Graviton attribute (no m7g-flex exists today; the naming rule covers one)', () => {
    expect(KNOWN_TYPES.some((name) => name.startsWith('m7g-flex.'))).toBe(false);
    expect(architectureOf('m7g-flex.large')).toBe('arm64');
    expect(architectureOf('m7i-flex.large')).toBe('x86_64');
  });
});

describe('isInstanceType', () => {
  it.each(TABLE)('accepts %s', (name) => {
    expect(isInstanceType(name)).toBe(true);
  });

  it('accepts every instance type @pulumi/aws knows', () => {
    expect(KNOWN_TYPES.filter((name) => !isInstanceType(name))).toEqual([]);
  });

  it.each(['', 't3', 'T3.small', 't3.', '.small', 't3.small ', 't3_small', '3t.small', 't3.sm.all', 'c7i.metal-', 'c7i.-24xl', 'm7i--flex.large', 'm7i-.large', 'u-.metal'])(
    'refuses %j',
    (name) => {
      expect(isInstanceType(name)).toBe(false);
    },
  );
});
