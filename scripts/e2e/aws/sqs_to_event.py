#!/usr/bin/env python3
"""Receives the messages waiting on an SQS queue (moto) and prints them as the SQS event a
Lambda trigger would deliver (Records with messageId, receiptHandle, body, attributes…), so
`cargo lambda invoke --data-file` can hand them to the consumer function.

    sqs_to_event.py MOTO_URL QUEUE_URL
"""
import json
import sys

import boto3

url, queue = sys.argv[1], sys.argv[2]
sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
records = []
while True:
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                              AttributeNames=["All"])
    msgs = got.get("Messages", [])
    if not msgs:
        break
    for m in msgs:
        records.append({
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:" + queue.rsplit("/", 1)[-1],
            "awsRegion": "us-east-1",
        })
print(json.dumps({"Records": records}, indent=1))
