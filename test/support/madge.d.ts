/** The part of madge's API (https://github.com/pahen/madge#api) test/unit/no-import-cycles.test.ts uses; madge ships no types. */
declare module 'madge' {
  interface MadgeConfig {
    baseDir?: string;
    fileExtensions?: string[];
    tsConfig?: string | object;
    detectiveOptions?: Record<string, unknown>;
  }
  interface MadgeResult {
    /** Each module (relative to baseDir) with the modules it imports. */
    obj(): Record<string, string[]>;
    /** Each import cycle as the list of its modules. */
    circular(): string[][];
    /** Files madge could not resolve. */
    warnings(): { skipped: string[] };
  }
  function madge(path: string | string[], config?: MadgeConfig): Promise<MadgeResult>;
  export default madge;
}
