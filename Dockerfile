# One image for the API and the workers: `npm start` (both, the default), `npm run start:api`,
# `npm run start:worker`. tsx runs the TypeScript sources directly, so there is no build step and
# tsx is a runtime dependency: `npm ci --omit=dev` installs all the image needs.
FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, so source edits do not re-run the install.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY . .

# Files stay owned by root and read-only for the app user.
USER node
EXPOSE 8000
CMD ["npm", "start"]
