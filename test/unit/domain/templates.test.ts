import { describe, expect, it } from 'vitest';
import { MissingTemplateValueError, renderTemplate, templateProblem, templateReferences } from '#shared/domain/templates';

const values = {
  runInput: { topic: 'otters', tags: ['rivers', 'play'], depth: 2 },
  dependencies: { research: { summary: 'they hold hands', sources: [{ title: 'Otters weekly' }] }, 'v1.draft': 'first draft' },
};

describe('prompt templates', () => {
  it('inserts strings as they are and other values as JSON', () => {
    expect(renderTemplate('Write about {{runInput.topic}} ({{ runInput.depth }} pages): {{dependencies.research.summary}}', values)).toBe(
      'Write about otters (2 pages): they hold hands',
    );
    expect(renderTemplate('Tags: {{runInput.tags}}; all: {{dependencies.research}}', values)).toBe(
      'Tags: ["rivers","play"]; all: {"summary":"they hold hands","sources":[{"title":"Otters weekly"}]}',
    );
  });

  it('reads array items by index and step ids that contain dots', () => {
    expect(renderTemplate('{{dependencies.research.sources.0.title}} / {{dependencies.v1.draft}}', values)).toBe('Otters weekly / first draft');
  });

  it('leaves other double braces alone (no escaping needed for Mustache in a prompt)', () => {
    expect(renderTemplate('Render {{name}} and {{ user.id }} literally', values)).toBe('Render {{name}} and {{ user.id }} literally');
    expect(templateReferences('{{name}} {{runInput.topic}}').map((reference) => reference.expression)).toEqual(['runInput.topic']);
  });

  it('never evaluates anything: a path is only looked up', () => {
    expect(() => renderTemplate('{{runInput.topic.constructor}}', values)).toThrow(MissingTemplateValueError);
    expect(() => renderTemplate('{{runInput.__proto__}}', values)).toThrow(MissingTemplateValueError);
  });

  it('names the missing part of a path', () => {
    expect(() => renderTemplate('{{dependencies.research.verdict}}', values)).toThrow('{{dependencies.research.verdict}}: there is no "verdict" in that output');
    expect(() => renderTemplate('{{runInput.audience.age}}', values)).toThrow('there is no "audience" in the run input');
    expect(() => renderTemplate('{{dependencies.review.score}}', values)).toThrow('no output of a dependency with that id');
    expect(() => renderTemplate('{{runInput.topic}}', { runInput: undefined, dependencies: {} })).toThrow('there is no "topic" in the run input');
  });

  it('accepts references to dependencies only', () => {
    expect(templateProblem('{{dependencies.research.summary}} {{runInput.x}} {{dependencies}}', ['research'])).toBeUndefined();
    expect(templateProblem('{{dependencies.v1.draft.text}}', ['v1.draft'])).toBeUndefined();
    expect(templateProblem('{{dependencies.review.score}}', ['research'])).toBe(
      '{{dependencies.review.score}} refers to a step that is not a dependency of this step (dependsOn: research)',
    );
    expect(templateProblem('{{dependencies.review}}', [])).toContain('(dependsOn: none)');
  });
});
