FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY collector collector
COPY storage storage
COPY evaluators evaluators
COPY dashboard dashboard
COPY replay replay
RUN pip install --no-cache-dir .
EXPOSE 4317 4318 8700 8501
CMD ["llmobs", "up"]
