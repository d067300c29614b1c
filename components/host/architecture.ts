/**
 * The CPU architecture of an EC2 instance type, which decides the AMI a host
 * boots (AL2023 is published per architecture). Pure: no EC2 lookup, so a
 * preview needs no credentials and config validation can call it.
 *
 * EC2 names a type `<family>.<size>`; the family is a series (`m`, `c`, `g`,
 * `hpc`, `im`, ...), a generation number, attribute letters, and sometimes a
 * hyphenated suffix (`m7i-flex`, `u7i-12tb`, `p6-b200`, `mac2-m2pro`). The
 * attribute `g` means an AWS Graviton (Arm) processor: `m7g`, `c6gn`, `t4g`,
 * `x2gd`, `im4gn`, `is4gen`, `g5g`, `hpc7g`, `m8gb`. A `g` elsewhere says
 * nothing about the processor: the series `g` (`g4dn`, `g5`, `g6e`) and `gr`
 * (`gr6`) are GPU instances on x86 hosts. Exceptions to the rule:
 * - `a1`, the first Graviton generation, carries no `g` attribute;
 * - `p6e-gb200` runs NVIDIA Grace CPUs (Arm), named in the suffix (`gb`);
 * - Apple silicon Macs (`mac2`, `mac2-m2pro`, `mac-m4`, ...) are Arm, `mac1` is
 *   Intel. EC2 Mac instances boot macOS AMIs only, so no Berth host runs there.
 *
 * test/unit/host-architecture.test.ts checks this against every instance type
 * @pulumi/aws knows, so a provider upgrade that brings a new family fails the
 * test until the family is classified.
 */

export type Architecture = 'x86_64' | 'arm64';

const FAMILY = /^([a-z]+)(\d+)([a-z]*)(?:-([a-z0-9]+))?$/;

/** The architecture of an instance type such as `m7g.large`, `c7i-flex.xlarge` or `a1.medium`; x86_64 for any name it cannot read. */
export function architectureOf(instanceType: string): Architecture {
  const family = instanceType.split('.')[0];
  if (family === 'a1') {
    return 'arm64';
  }
  if (family.startsWith('mac')) {
    return family === 'mac1' ? 'x86_64' : 'arm64';
  }
  const parts = FAMILY.exec(family);
  if (!parts) {
    return 'x86_64';
  }
  const [, , , attributes, suffix] = parts;
  return attributes.includes('g') || /^gb\d/.test(suffix ?? '') ? 'arm64' : 'x86_64';
}
