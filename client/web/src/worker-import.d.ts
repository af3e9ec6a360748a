/** Vite's worker import (`./file?worker`): a constructor of a Worker running that file's bundle. */
declare module '*?worker' {
  const WorkerConstructor: new () => Worker;
  export default WorkerConstructor;
}
