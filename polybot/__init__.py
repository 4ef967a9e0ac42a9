"""polybot: the Telegram-facing service (webhook -> S3/DynamoDB/SQS, /results -> the answer)."""
