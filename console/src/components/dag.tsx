import dagre from '@dagrejs/dagre';
import { useLayoutEffect, useMemo, useRef } from 'react';

export interface DagNode {
  id: string;
  kind: string;
  dependsOn: string[];
  /** Absent for a workflow (no run): nodes are drawn neutral. */
  status?: string;
  /** Why it waits, in words (a throttled step's limit, a gate's state): shown on hover. */
  note?: string;
  /** The planner step that added it to the run (issue 13 §2): drawn dashed. */
  plannedBy?: string;
}

interface Layout {
  width: number;
  height: number;
  nodes: Map<string, { x: number; y: number }>;
  edges: { from: string; to: string; points: { x: number; y: number }[] }[];
}

const nodeWidth = 150;
const nodeHeight = 38;

/** Lays the graph out left to right with dagre; depends only on the shape, not on statuses. */
function layoutOf(nodes: readonly Pick<DagNode, 'id' | 'dependsOn'>[]): Layout {
  const graph = new dagre.graphlib.Graph<{ rankdir: string; nodesep: number; ranksep: number; marginx: number; marginy: number; width?: number; height?: number }, { width: number; height: number; x: number; y: number }, { points?: { x: number; y: number }[] }>();
  graph.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 46, marginx: 12, marginy: 12 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) graph.setNode(node.id, { width: nodeWidth, height: nodeHeight, x: 0, y: 0 });
  const known = new Set(nodes.map((node) => node.id));
  for (const node of nodes) for (const parent of node.dependsOn) if (known.has(parent)) graph.setEdge(parent, node.id);
  dagre.layout(graph);
  const label = graph.graph();
  return {
    width: Math.ceil(label.width ?? 0),
    height: Math.ceil(label.height ?? 0),
    nodes: new Map(nodes.map((node) => {
      const { x, y } = graph.node(node.id);
      return [node.id, { x, y }];
    })),
    edges: graph.edges().map((edge) => ({ from: edge.v, to: edge.w, points: graph.edge(edge).points ?? [] })),
  };
}

const path = (points: { x: number; y: number }[]): string => points.map((point, index) => `${index ? 'L' : 'M'}${point.x.toFixed(1)},${point.y.toFixed(1)}`).join(' ');

/**
 * The DAG as a picture: one node per step, coloured by status, each marked `data-step-id` and
 * `data-status` (tests and people read the same thing). Clicking a node selects the step.
 */
export function Dag({ nodes, selected, onSelect }: { nodes: DagNode[]; selected?: string | undefined; onSelect?: (stepId: string) => void }) {
  const shape = nodes.map((node) => `${node.id}<${node.dependsOn.join(',')}`).join(';');
  // Relaid out only when the graph's shape changes, not on every status poll.
  const layout = useMemo(() => layoutOf(nodes), [shape]);
  // A large graph is taller than its frame and dagre centres it: open on its first step (the
  // left-most node), not on empty space, once per shape; the reader scrolls from there.
  const frame = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    const element = frame.current;
    const first = [...layout.nodes.values()].sort((a, b) => a.x - b.x || a.y - b.y)[0];
    if (!element || !first || layout.height <= element.clientHeight) return;
    element.scrollTop = Math.max(0, first.y - element.clientHeight / 3);
    element.scrollLeft = 0;
  }, [layout]);
  return (
    <div className="dag" data-testid="dag" ref={frame}>
      <svg width={layout.width} height={layout.height} role="img" aria-label={`Graph of ${nodes.length} steps`}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" className="dag-arrow" />
          </marker>
        </defs>
        {layout.edges.map((edge) => (
          <path key={`${edge.from}>${edge.to}`} d={path(edge.points)} className="dag-edge" markerEnd="url(#arrow)" />
        ))}
        {nodes.map((node) => {
          const position = layout.nodes.get(node.id);
          if (!position) return null;
          return (
            <g
              key={node.id}
              className={`dag-node${selected === node.id ? ' selected' : ''}${node.plannedBy ? ' planned' : ''}`}
              data-step-id={node.id}
              data-planned-by={node.plannedBy}
              data-status={node.status ?? 'none'}
              transform={`translate(${position.x - nodeWidth / 2},${position.y - nodeHeight / 2})`}
              onClick={onSelect ? () => onSelect(node.id) : undefined}
              role={onSelect ? 'button' : undefined}
              tabIndex={onSelect ? 0 : undefined}
              onKeyDown={onSelect ? (event) => event.key === 'Enter' && onSelect(node.id) : undefined}
            >
              <title>{`${node.id} (${node.kind})${node.status ? `: ${node.status}` : ''}${node.note ? ` (${node.note})` : ''}${node.plannedBy ? `, added by ${node.plannedBy}` : ''}`}</title>
              <rect width={nodeWidth} height={nodeHeight} rx={6} />
              <text x={8} y={16} className="dag-id">
                {node.id.length > 20 ? `${node.id.slice(0, 19)}…` : node.id}
              </text>
              <text x={8} y={30} className="dag-kind">
                {node.kind}
                {node.status ? ` · ${node.status.replace('_', ' ')}` : ''}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
