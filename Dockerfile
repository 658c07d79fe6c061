# One image for the API and the workers. `node dist/main.js` (the default) is npm start: a
# supervisor running API and worker processes; `node dist/api/main.js` and `node dist/worker/main.js`
# run one role each (docker-compose.yml). The image runs compiled JavaScript with plain node: the
# build stage compiles with the dev dependencies, the runtime stage has only the production ones.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# patches/ before npm ci: its postinstall (patch-package) patches postgres.js (README, "postgres.js is patched").
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json main.ts ./
COPY api ./api
COPY worker ./worker
COPY shared ./shared
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# The memory settings npm start uses (package.json): a bounded young generation and old space, one
# V8 helper thread and two malloc arenas keep every process's memory flat under load (README,
# Performance).
ENV NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=128 --v8-pool-size=1"
ENV MALLOC_ARENA_MAX=2
WORKDIR /app

# Dependencies first, so source edits do not re-run the install (patches/: as in the build stage).
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# package.json (above) makes dist/ ES modules; migrations/ is read at start, next to package.json.
COPY migrations ./migrations
COPY --from=build /app/dist ./dist

# Files stay owned by root and read-only for the app user.
USER node
EXPOSE 8000
# node itself, not npm: SIGTERM reaches the supervisor directly (compose adds an init process).
CMD ["node", "dist/main.js"]
